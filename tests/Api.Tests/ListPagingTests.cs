using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Inference.Grains.Abstractions;
using Inference.Grains.Abstractions.Models;
using Inference.Grains.Abstractions.Tenants;
using Inference.TestSupport;
using k8s;
using k8s.Models;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Api.Tests;

/// <summary>Kubernetes-style paging of the list endpoints (<c>limit</c>, <c>continue</c>): a walk shows every item that
/// exists throughout it exactly once, in (tenant, name) order, across tenants; a page calls only the tenants it
/// needs; a bad limit or a token the service did not issue for the caller's list and scope is a 400. The audit trail
/// pages the same way, under the same name, with the same refusals.</summary>
[Collection(ApiCollection.Name)]
public sealed class ListPagingTests(ApiFixture api)
{
    private static readonly StringComparer Order = StringComparer.Ordinal;

    /// <summary>Namespaces of this test only, named to sort together; each becomes a tenant with its first model.</summary>
    private async Task<string[]> NewTenantsAsync(int count)
    {
        var prefix = "pg" + Guid.NewGuid().ToString("N")[..6];
        var tenants = Enumerable.Range(0, count).Select(i => $"{prefix}-{(char)('a' + i)}").ToArray();
        foreach (var ns in tenants)
        {
            await api.Kubernetes().CoreV1.CreateNamespaceAsync(new V1Namespace
            {
                // Unlabelled: a namespace holding models is a tenant already, and other tests count the labelled ones.
                Metadata = new V1ObjectMeta { Name = ns },
            });
        }
        return tenants;
    }

    private static async Task CreateAsync(HttpClient client, string ns, string name) =>
        await (await client.PostJson("/api/models", new { name, framework = "sklearn", storageUri = "gs://b/m", @namespace = ns }))
            .AssertOk(HttpStatusCode.Created);

    private static (string Namespace, string Name) Key(JsonNode? m) => (m!["namespace"]!.GetValue<string>(), m["name"]!.GetValue<string>());

    private static int Compare((string Namespace, string Name) a, (string Namespace, string Name) b) =>
        Order.Compare(a.Namespace, b.Namespace) is var byTenant and not 0 ? byTenant : Order.Compare(a.Name, b.Name);

    /// <summary>Pages of <paramref name="limit"/> until the answer carries no token; <paramref name="between"/> runs
    /// after each page.</summary>
    private static async Task<List<(string Namespace, string Name)>> WalkAsync(HttpClient client, string path, string items, int limit,
        Func<int, Task>? between = null)
    {
        var seen = new List<(string, string)>();
        string? token = null;
        for (var page = 0; ; page++)
        {
            var query = $"{path}{(path.Contains('?') ? '&' : '?')}limit={limit}" + (token is null ? "" : $"&continue={Uri.EscapeDataString(token)}");
            var answer = await (await client.GetAsync(query)).AssertOk();
            var listed = answer[items]!.AsArray();
            Assert.True(listed.Count <= limit, $"page {page} holds {listed.Count} items, more than the limit {limit}");
            Assert.Equal(listed.Count, answer["total"]!.GetValue<int>());
            seen.AddRange(listed.Select(Key));
            token = answer["continue"]?.GetValue<string>();
            if (token is null)
            {
                return seen;
            }
            Assert.NotEmpty(listed);
            if (between is not null)
            {
                await between(page);
            }
        }
    }

    [Fact]
    public async Task An_admins_paged_walk_shows_every_model_once_in_tenant_then_name_order_as_the_whole_list_does()
    {
        var admin = api.Admin();
        foreach (var ns in await NewTenantsAsync(3))
        {
            foreach (var name in new[] { "m-b", "m-a", "m-c" })
            {
                await CreateAsync(admin, ns, name);
            }
        }
        var whole = (await (await admin.GetAsync("/api/models")).AssertOk())["models"]!.AsArray().Select(Key).ToList();
        Assert.Null((await (await admin.GetAsync("/api/models")).AssertOk())["continue"]);

        var walked = await WalkAsync(admin, "/api/models", "models", limit: 2);

        Assert.Equal(whole, walked);
        Assert.Equal(whole.Order(Comparer<(string, string)>.Create(Compare)), whole);
        Assert.True(whole.Count >= 9);
    }

    [Fact]
    public async Task A_walk_tolerates_creates_and_deletes_meanwhile_without_duplicates_nor_skipping_what_existed_throughout()
    {
        var admin = api.Admin();
        var tenants = await NewTenantsAsync(3);
        var first = new[] { "m-a", "m-c", "m-e", "m-g" };
        foreach (var ns in tenants)
        {
            foreach (var name in first)
            {
                await CreateAsync(admin, ns, name);
            }
        }
        var deleted = new List<(string, string)>();
        var created = new List<(string, string)>();
        var walked = await WalkAsync(admin, "/api/models", "models", limit: 2, between: async page =>
        {
            // The first pages delete two of every tenant's models and create models before, between and after the
            // others, in tenants behind the walk, at its position and ahead of it.
            if (page >= 6)
            {
                return;
            }
            foreach (var ns in tenants)
            {
                if (page < 2)
                {
                    var victim = first[1 + page];
                    await (await admin.DeleteAsync($"/api/models/{victim}?namespace={ns}")).AssertOk();
                    deleted.Add((ns, victim));
                }
                var name = $"m-{(char)('b' + 2 * (page % 4))}{page}";
                await CreateAsync(admin, ns, name);
                created.Add((ns, name));
            }
        });

        Assert.Equal(walked.Count, walked.Distinct().Count());
        Assert.Equal(walked.Order(Comparer<(string, string)>.Create(Compare)), walked);
        var throughout = tenants.SelectMany(ns => first.Select(n => (ns, n))).Except(deleted).ToList();
        Assert.Equal(2 * tenants.Length, throughout.Count);
        Assert.All(throughout, m => Assert.Contains(m, walked));
        Assert.Equal(6 * tenants.Length, created.Count);
    }

    [Fact]
    public async Task A_tenant_user_pages_through_their_own_models_and_publications()
    {
        var ns = (await NewTenantsAsync(1))[0];
        var tenant = api.Tenant(ns);
        var names = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var name = await api.ReadyModelAsync(tenant);
            await tenant.PublishAsync(name, PublishingSupport.Config(path: $"/paging/{name}"));
            names.Add(name);
        }
        names.Sort(Order);

        Assert.Equal(names.Select(n => (ns, n)), await WalkAsync(tenant, "/api/models", "models", limit: 1));
        var published = new List<(string, string)>();
        string? token = null;
        do
        {
            var answer = await (await tenant.GetAsync("/api/published-models?limit=2" + (token is null ? "" : $"&continue={Uri.EscapeDataString(token)}"))).AssertOk();
            published.AddRange(answer["publishedModels"]!.AsArray().Select(p => (p!["namespace"]!.GetValue<string>(), p["modelName"]!.GetValue<string>())));
            token = answer["continue"]?.GetValue<string>();
        }
        while (token is not null);
        Assert.Equal(names.Select(n => (ns, n)), published);

        // A token of one list does not continue another.
        var modelsToken = (await (await tenant.GetAsync("/api/models?limit=1")).AssertOk())["continue"]!.GetValue<string>();
        await (await tenant.GetAsync($"/api/published-models?limit=1&continue={Uri.EscapeDataString(modelsToken)}"))
            .AssertError(HttpStatusCode.BadRequest, "Invalid request format");
    }

    [Theory]
    [InlineData("limit=0")]
    [InlineData("limit=501")]
    [InlineData("limit=-1")]
    [InlineData("limit=abc")]
    [InlineData("limit=1.5")]
    [InlineData("limit=")]
    [InlineData("limit=99999999999")]
    [InlineData("continue=garbage")]
    [InlineData("continue=eyJ2IjoxfQ.AAAA")]
    [InlineData("limit=5&continue=a.b.c")]
    public async Task A_bad_limit_or_continue_is_a_400_in_the_contracts_shape(string query)
    {
        foreach (var path in new[] { "/api/models", "/api/published-models" })
        {
            var error = await (await api.Admin().GetAsync($"{path}?{query}")).AssertError(HttpStatusCode.BadRequest, "Invalid request format");
            Assert.Contains(query.Contains("continue") ? "continue" : "limit", error["details"]!.GetValue<string>());
        }
    }

    [Fact]
    public async Task A_token_changed_by_hand_or_too_long_is_a_400()
    {
        var ns = (await NewTenantsAsync(1))[0];
        var tenant = api.Tenant(ns);
        await CreateAsync(tenant, ns, "m-a");
        await CreateAsync(tenant, ns, "m-b");
        var token = (await (await tenant.GetAsync("/api/models?limit=1")).AssertOk())["continue"]!.GetValue<string>();
        Assert.Equal("m-b", (await (await tenant.GetAsync($"/api/models?continue={Uri.EscapeDataString(token)}")).AssertOk())["models"]![0]!["name"]!.GetValue<string>());

        // The payload rewritten to start before every model, its signature kept: refused.
        var dot = token.IndexOf('.');
        var payload = Encoding.UTF8.GetString(System.Buffers.Text.Base64Url.DecodeFromChars(token.AsSpan(0, dot)));
        Assert.Contains("m-a", payload);
        var rewritten = System.Buffers.Text.Base64Url.EncodeToString(Encoding.UTF8.GetBytes(payload.Replace("m-a", "m-0"))) + token[dot..];
        foreach (var bad in new[] { rewritten, token[..^2] + (token[^2] == 'A' ? "BB" : "AA"), token + new string('A', 2000) })
        {
            await (await tenant.GetAsync($"/api/models?continue={Uri.EscapeDataString(bad)}")).AssertError(HttpStatusCode.BadRequest, "Invalid request format");
        }
    }

    /// <summary>A token is scoped to the caller's namespace: another tenant presenting it (or an admin's all-tenants
    /// token presented by a tenant, or with a namespace) is refused and shown nothing.</summary>
    [Fact]
    public async Task A_token_does_not_cross_tenants()
    {
        var tenants = await NewTenantsAsync(2);
        var a = api.Tenant(tenants[0]);
        var b = api.Tenant(tenants[1]);
        await CreateAsync(a, tenants[0], "m-a");
        await CreateAsync(a, tenants[0], "m-b");
        await CreateAsync(b, tenants[1], "m-a");
        var aToken = (await (await a.GetAsync("/api/models?limit=1")).AssertOk())["continue"]!.GetValue<string>();
        var adminToken = (await (await api.Admin().GetAsync("/api/models?limit=1")).AssertOk())["continue"]!.GetValue<string>();

        foreach (var (client, token, query) in new[] { (b, aToken, ""), (b, adminToken, ""), (a, adminToken, ""), (api.Admin(), adminToken, $"&namespace={tenants[1]}"), (api.Admin(), aToken, "") })
        {
            var response = await client.GetAsync($"/api/models?limit=5&continue={Uri.EscapeDataString(token)}{query}");
            var error = await response.AssertError(HttpStatusCode.BadRequest, "Invalid request format");
            Assert.DoesNotContain(tenants[0], error.ToJsonString());
        }
        // A token the admin got for that tenant's namespace continues for that tenant's own user.
        var scoped = (await (await api.Admin().GetAsync($"/api/models?limit=1&namespace={tenants[0]}")).AssertOk())["continue"]!.GetValue<string>();
        Assert.Equal("m-b", (await (await a.GetAsync($"/api/models?continue={Uri.EscapeDataString(scoped)}")).AssertOk())["models"]![0]!["name"]!.GetValue<string>());
    }

    /// <summary>Every paged endpoint, as the caller who reads it: the lists (tenant and admin) and the audit trail (a
    /// tenant's own and the admin's).</summary>
    public static readonly TheoryData<string, bool> PagedEndpoints = new()
    {
        { "/api/models", false },
        { "/api/models", true },
        { "/api/published-models", false },
        { "/api/published-models", true },
        { "/api/audit", false },
        { "/api/admin/audit", true },
    };

    /// <summary>A fresh tenant with two published models: two items in each list, and more in its audit trail.</summary>
    private async Task<string> SeededTenantAsync()
    {
        var ns = (await NewTenantsAsync(1))[0];
        var tenant = api.Tenant(ns);
        for (var i = 0; i < 2; i++)
        {
            var name = await api.ReadyModelAsync(tenant);
            await tenant.PublishAsync(name, PublishingSupport.Config(path: $"/paging/{name}"));
        }
        return ns;
    }

    private static string Items(string path) => path.Contains("audit") ? "records" : path == "/api/models" ? "models" : "publishedModels";

    /// <summary>Who reads <paramref name="path"/> in <paramref name="ns"/>, and the start of their query (an admin
    /// names the tenant: <c>namespace</c>, or the audit trail's <c>tenant</c>).</summary>
    private (HttpClient Client, string Url) Reader(string path, bool admin, string ns) =>
        admin ? (api.Admin(), $"{path}?{(path.Contains("audit") ? "tenant" : "namespace")}={ns}&") : (api.Tenant(ns), $"{path}?");

    /// <summary>The <c>continue</c> of a first page of one item, which every paged answer carries under that name.</summary>
    private async Task<string> FirstTokenAsync(string path, bool admin, string ns)
    {
        var (client, url) = Reader(path, admin, ns);
        var answer = await (await client.GetAsync($"{url}limit=1")).AssertOk();
        // The audit trail's answer repeats it under the trail's former name, which clients written against it read.
        Assert.Equal(path.Contains("audit") ? answer["continue"]!.GetValue<string>() : null, answer["continuationToken"]?.GetValue<string>());
        return answer["continue"]!.GetValue<string>();
    }

    private static async Task<JsonNode> AssertRefusedAsync(HttpResponseMessage response, string parameter = "continue")
    {
        var error = await response.AssertError(HttpStatusCode.BadRequest, "Invalid request format");
        Assert.Equal(["error", "details"], error.AsObject().Select(p => p.Key));
        Assert.Contains($"'{parameter}'", error["details"]!.GetValue<string>());
        return error;
    }

    /// <summary>One name and one refusal everywhere: each endpoint continues with its own token, answers it as
    /// <c>continue</c>, and refuses garbage, a token changed by hand, the audit trail's former bare row key, and a
    /// token of any other paged endpoint of the same caller and scope, with the same 400.</summary>
    [Theory]
    [MemberData(nameof(PagedEndpoints))]
    public async Task Every_paged_endpoint_takes_its_own_continue_and_refuses_any_other_the_same_way(string path, bool admin)
    {
        var ns = await SeededTenantAsync();
        var (client, url) = Reader(path, admin, ns);
        var own = await FirstTokenAsync(path, admin, ns);
        var second = await (await client.GetAsync($"{url}limit=1&continue={Uri.EscapeDataString(own)}")).AssertOk();
        Assert.Single(second[Items(path)]!.AsArray());

        var foreign = new List<string> { "garbage", "eyJ2IjoxfQ.AAAA", "0000000000000000000-00000000", own[..^2] + (own[^2] == 'A' ? "BB" : "AA") };
        foreach (var other in new[] { "/api/models", "/api/published-models", "/api/audit" }.Where(o => o != path && !(o.Contains("audit") && path.Contains("audit"))))
        {
            foreign.Add(await FirstTokenAsync(other, admin: false, ns));
        }
        foreach (var token in foreign)
        {
            await AssertRefusedAsync(await client.GetAsync($"{url}limit=1&continue={Uri.EscapeDataString(token)}"));
        }
    }

    /// <summary>The audit trail's token is bound to the caller's scope as the lists' are: another tenant, or an admin's
    /// all-tenants token passed with a tenant (or by a tenant user), is refused; an admin's token for one tenant
    /// continues for that tenant's user, as a list's does.</summary>
    [Fact]
    public async Task An_audit_token_does_not_cross_tenants()
    {
        var tenants = await NewTenantsAsync(2);
        var (a, b) = (tenants[0], tenants[1]);
        await CreateAsync(api.Tenant(a), a, "m-a");
        await CreateAsync(api.Tenant(a), a, "m-b");
        await CreateAsync(api.Tenant(b), b, "m-a");
        var aToken = await FirstTokenAsync("/api/audit", admin: false, a);
        var all = (await (await api.Admin().GetAsync("/api/admin/audit?limit=1")).AssertOk())["continue"]!.GetValue<string>();

        foreach (var (client, path, token) in new[]
        {
            (api.Tenant(b), "/api/audit?", aToken),
            (api.Tenant(a), "/api/audit?", all),
            (api.Admin(), $"/api/admin/audit?tenant={b}&", aToken),
            (api.Admin(), $"/api/admin/audit?tenant={a}&", all),
            (api.Admin(), "/api/admin/audit?", aToken),
        })
        {
            var error = await AssertRefusedAsync(await client.GetAsync($"{path}limit=5&continue={Uri.EscapeDataString(token)}"));
            Assert.DoesNotContain(a, error.ToJsonString());
        }
        var scoped = await FirstTokenAsync("/api/admin/audit", admin: true, a);
        var next = await (await api.Tenant(a).GetAsync($"/api/audit?limit=1&continue={Uri.EscapeDataString(scoped)}")).AssertOk();
        Assert.Equal($"{a}/m-a", next["records"]![0]!["target"]!.GetValue<string>());
    }

    /// <summary>The audit trail's former parameter name still continues (links and scripts that use it), is refused
    /// as <c>continue</c> is, naming the parameter it came in, and is not taken alongside <c>continue</c>.</summary>
    [Fact]
    public async Task The_audit_trails_former_continuationToken_parameter_takes_the_same_token()
    {
        var ns = (await NewTenantsAsync(1))[0];
        var tenant = api.Tenant(ns);
        await CreateAsync(tenant, ns, "m-a");
        await CreateAsync(tenant, ns, "m-b");
        var token = await FirstTokenAsync("/api/audit", admin: false, ns);
        var byName = await (await tenant.GetAsync($"/api/audit?limit=1&continue={Uri.EscapeDataString(token)}")).AssertOk();
        var byFormer = await (await tenant.GetAsync($"/api/audit?limit=1&continuationToken={Uri.EscapeDataString(token)}")).AssertOk();
        Assert.Equal($"{ns}/m-a", byName["records"]![0]!["target"]!.GetValue<string>());
        Assert.Equal(byName.ToJsonString(), byFormer.ToJsonString());

        await AssertRefusedAsync(await tenant.GetAsync("/api/audit?continuationToken=0000000000000000000-00000000"), "continuationToken");
        var modelsToken = await FirstTokenAsync("/api/models", admin: false, ns);
        await AssertRefusedAsync(await tenant.GetAsync($"/api/audit?continuationToken={Uri.EscapeDataString(modelsToken)}"), "continuationToken");
        await AssertRefusedAsync(await tenant.GetAsync($"/api/audit?continue={Uri.EscapeDataString(token)}&continuationToken={Uri.EscapeDataString(token)}"));
    }

    /// <summary>A page (the whole admin list is one) passes from the tenant grains to the listing grain and on to the
    /// API host as it is: Orleans copies what crosses a grain call unless it is marked immutable, which for ten
    /// thousand models was a list and its items copied twice per request.</summary>
    [Fact]
    public void A_page_is_passed_between_grains_and_host_without_being_copied()
    {
        var copier = api.Services.GetRequiredService<Orleans.Serialization.DeepCopier>();
        var now = DateTimeOffset.UtcNow;
        var page = new ListPage<ModelView>(
            [new ModelView("m-a", "tenant-a", "Ready", true, null, new ModelSpec("sklearn", "gs://b/m"), now, now, "Ready", new ReplicaCounts(1, 1, 1), [])],
            More: true);

        Assert.Same(page, copier.Copy(page));
    }

    /// <summary>Each page of one item across tenants calls no tenant after the one that item is in, and none before
    /// the previous page's.</summary>
    [Fact]
    public async Task A_page_calls_only_the_tenants_it_needs()
    {
        var admin = api.Admin();
        foreach (var ns in await NewTenantsAsync(2))
        {
            await CreateAsync(admin, ns, "m-a");
        }
        var tenantCount = (await api.Services.GetRequiredService<IGrainFactory>().GetGrain<ITenantDirectoryGrain>(0).ListAsync()).Count;
        Assert.True(tenantCount >= 2);
        var (whole, wholeCalls) = await api.GrainCalls.TracedGetAsync(admin, "/api/models");
        await whole.AssertOk();
        Assert.Equal(tenantCount, wholeCalls.Count(c => c.Interface == typeof(ITenantGrain)));

        string? token = null;
        var previous = "";
        for (var page = 0; page < 6; page++)
        {
            var (response, calls) = await api.GrainCalls.TracedGetAsync(admin, "/api/models?limit=1" + (token is null ? "" : $"&continue={Uri.EscapeDataString(token)}"));
            var answer = await response.AssertOk();
            var item = Key(answer["models"]![0]);
            var called = calls.Where(c => c.Interface == typeof(ITenantGrain)).Select(c => c.Key!).ToList();
            Assert.Contains(item.Namespace, called);
            Assert.All(called, t => Assert.InRange(t, previous, item.Namespace, Order));
            Assert.True(called.Count < tenantCount, $"a page of one model called {called.Count} of {tenantCount} tenants");
            previous = item.Namespace;
            token = answer["continue"]?.GetValue<string>();
            if (token is null)
            {
                break;
            }
        }
    }
}
