using System.Net;
using System.Text.Json.Nodes;
using Inference.TestSupport;
using Inference.Grains.Abstractions.Models;
using Inference.Grains.Abstractions.Publishing;
using Inference.Grains.Abstractions.Tenants;

namespace Inference.Api.Tests;

/// <summary>Lists read the views the tenant grain keeps: one grain call per list, whatever the number of models,
/// and the answer exactly what reading each resource on its own shows.</summary>
[Collection(ApiCollection.Name)]
public sealed class ListViewTests(ApiFixture api)
{
    private static int CallsTo<T>(IReadOnlyList<GrainCall> calls) => calls.Count(c => c.Interface == typeof(T));

    [Fact]
    public async Task A_tenants_model_list_is_one_tenant_call_and_no_model_calls()
    {
        var client = api.Tenant("tenant-b");
        var names = new[] { await api.ReadyModelAsync(client), await api.ReadyModelAsync(client) };

        var (response, calls) = await api.GrainCalls.TracedGetAsync(client, "/api/models");
        var list = await response.AssertOk();

        Assert.Equal(0, CallsTo<IModelGrain>(calls));
        Assert.Equal(1, CallsTo<ITenantGrain>(calls));
        var models = list["models"]!.AsArray();
        Assert.Equal(models.Count, list["total"]!.GetValue<int>());
        Assert.Equal(models.Select(m => m!["name"]!.GetValue<string>()).Order(StringComparer.Ordinal), models.Select(m => m!["name"]!.GetValue<string>()));
        foreach (var name in names)
        {
            // What the list shows of a model is what reading it shows, status included (replica counts may still
            // be arriving from the watch, hence the wait for both reads to agree).
            await TestEnvironment.Eventually(async () =>
            {
                var listed = (await (await client.GetAsync("/api/models")).AssertOk())["models"]!.AsArray().Single(m => m!["name"]!.GetValue<string>() == name);
                return JsonNode.DeepEquals(await (await client.GetAsync($"/api/models/{name}")).AssertOk(), listed);
            }, same => same, what: $"{name} in the list to show what reading it shows");
        }
    }

    [Fact]
    public async Task A_tenants_publication_list_is_one_tenant_call_and_no_publication_calls()
    {
        var client = api.Tenant("tenant-b");
        var names = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            var name = await api.ReadyModelAsync(client);
            await client.PublishAsync(name, PublishingSupport.Config(path: $"/views/{name}"));
            names.Add(name);
        }
        // A change after publishing shows in the list too.
        await (await client.PutJson($"/api/models/{names[0]}/publish", PublishingSupport.Config(rpm: 7, path: $"/views/{names[0]}"))).AssertOk();
        var key = (await (await client.PostAsync($"/api/models/{names[1]}/publish/rotate-key", null)).AssertOk())["newApiKey"]!.GetValue<string>();
        await (await api.Client().ValidateAsync(key)).AssertOk();
        await client.SettledPublicationAsync(names[1], 1);

        var (response, calls) = await api.GrainCalls.TracedGetAsync(client, "/api/published-models");
        var list = await response.AssertOk();

        Assert.Equal(0, CallsTo<IPublishedModelGrain>(calls));
        Assert.Equal(1, CallsTo<ITenantGrain>(calls));
        var published = list["publishedModels"]!.AsArray();
        Assert.Equal(published.Count, list["total"]!.GetValue<int>());
        foreach (var name in names)
        {
            var one = (await (await client.GetAsync($"/api/models/{name}/publish")).AssertOk()).AsObject();
            Assert.True(one.Remove("documentation"));
            Assert.True(JsonNode.DeepEquals(one, published.Single(p => p!["modelName"]!.GetValue<string>() == name)), $"{name} differs in the list");
        }
        Assert.Equal(7, published.Single(p => p!["modelName"]!.GetValue<string>() == names[0])!["rateLimiting"]!["requestsPerMinute"]!.GetValue<int>());
        Assert.Equal(1, published.Single(p => p!["modelName"]!.GetValue<string>() == names[1])!["usage"]!["totalRequests"]!.GetValue<long>());

        foreach (var name in names)
        {
            await (await client.DeleteAsync($"/api/models/{name}")).AssertOk();
        }
        var after = await (await client.GetAsync("/api/published-models")).AssertOk();
        Assert.DoesNotContain(after["publishedModels"]!.AsArray(), p => names.Contains(p!["modelName"]!.GetValue<string>()));
    }

    [Fact]
    public async Task An_admin_list_across_tenants_is_one_call_from_the_host_fanned_out_inside_the_silo()
    {
        // Models in several tenants, so a loop over tenants in the handler would show as several host calls.
        // Written as the admin: the tenant users' audit trails are bounded per minute, and other tests read theirs.
        var admin = api.Admin();
        var names = new Dictionary<string, string>();
        foreach (var tenant in new[] { "tenant-a", "tenant-b", "tenant-c" })
        {
            names[tenant] = await api.ReadyModelAsync(admin, tenant);
        }
        foreach (var url in new[] { "/api/models", "/api/published-models", "/api/admin/tenants" })
        {
            var (response, calls) = await api.GrainCalls.TracedGetAsync(admin, url);
            await response.AssertOk();
            var fromHost = calls.Where(c => c.FromHost).Select(c => c.Interface).ToList();
            var described = $"{url}: the host called {string.Join(", ", fromHost.Select(t => t.Name))}";
            Assert.True(fromHost.Count(t => t == typeof(ITenantListingGrain)) == 1, described);
            Assert.True(!fromHost.Contains(typeof(ITenantGrain)), described);
            Assert.True(CallsTo<ITenantGrain>(calls) >= names.Count, $"{url}: the listing reached {CallsTo<ITenantGrain>(calls)} tenants");
        }

        var all = (await (await admin.GetAsync("/api/models")).AssertOk())["models"]!.AsArray();
        foreach (var (tenant, name) in names)
        {
            Assert.Contains(all, m => m!["name"]!.GetValue<string>() == name && m["namespace"]!.GetValue<string>() == tenant);
        }
        // Tenants in name order, each tenant's models in name order, as the per-tenant lists show them.
        var expected = new List<string>();
        foreach (var tenant in all.Select(m => m!["namespace"]!.GetValue<string>()).Distinct())
        {
            var own = (await (await admin.GetAsync($"/api/models?namespace={tenant}")).AssertOk())["models"]!.AsArray();
            expected.AddRange(own.Select(m => $"{tenant}/{m!["name"]!.GetValue<string>()}"));
        }
        Assert.Equal(expected, all.Select(m => $"{m!["namespace"]!.GetValue<string>()}/{m["name"]!.GetValue<string>()}"));
        Assert.Equal(all.Select(m => m!["namespace"]!.GetValue<string>()).Distinct().Order(StringComparer.Ordinal),
            all.Select(m => m!["namespace"]!.GetValue<string>()).Distinct());

        foreach (var (tenant, name) in names)
        {
            await (await admin.DeleteAsync($"/api/models/{name}?namespace={tenant}")).AssertOk();
        }
    }

    [Fact]
    public async Task An_admin_naming_a_model_without_a_namespace_reads_the_name_index_and_is_asked_for_it_when_ambiguous()
    {
        var admin = api.Admin();
        var name = "n" + Guid.NewGuid().ToString("N")[..8];
        object Model(string ns) => new { name, framework = "sklearn", storageUri = "gs://bucket/model", @namespace = ns };
        await (await admin.PostJson("/api/models", Model("tenant-a"))).AssertOk(HttpStatusCode.Created);

        var (response, calls) = await api.GrainCalls.TracedGetAsync(admin, $"/api/models/{name}");
        Assert.Equal("tenant-a", (await response.AssertOk())["namespace"]!.GetValue<string>());
        var fromHost = calls.Where(c => c.FromHost).Select(c => c.Interface).ToList();
        var described = $"the host called {string.Join(", ", fromHost.Select(t => t.Name))}";
        Assert.True(fromHost.Count(t => t == typeof(IModelNameIndexGrain)) == 1, described);
        Assert.True(!fromHost.Contains(typeof(ITenantGrain)) && !fromHost.Contains(typeof(ITenantDirectoryGrain)), described);

        await (await admin.PostJson("/api/models", Model("tenant-c"))).AssertOk(HttpStatusCode.Created);
        var ambiguous = await (await admin.GetAsync($"/api/models/{name}")).AssertError(HttpStatusCode.BadRequest, "namespace");
        Assert.Contains("tenant-a", ambiguous["details"]!.GetValue<string>());
        Assert.Contains("tenant-c", ambiguous["details"]!.GetValue<string>());
        await (await admin.DeleteAsync($"/api/models/{name}")).AssertError(HttpStatusCode.BadRequest, "namespace");
        await (await admin.GetAsync($"/api/models/{name}/publish")).AssertError(HttpStatusCode.BadRequest, "namespace");

        // The index follows deletions: with one holder left the name resolves again, with none it is unknown.
        await (await admin.DeleteAsync($"/api/models/{name}?namespace=tenant-a")).AssertOk();
        Assert.Equal("tenant-c", (await (await admin.GetAsync($"/api/models/{name}")).AssertOk())["namespace"]!.GetValue<string>());
        await (await admin.DeleteAsync($"/api/models/{name}")).AssertOk();
        await (await admin.GetAsync($"/api/models/{name}")).AssertError(HttpStatusCode.NotFound);
    }
}
