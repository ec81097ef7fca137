using System.Net;
using System.Text.Json.Nodes;
using Inference.TestSupport;

namespace Inference.Api.Tests;

/// <summary>Reads of the audit trail shared by the audit tests.</summary>
public static class AuditReads
{
    /// <summary>Every record of a query, following its <c>continue</c> tokens.</summary>
    public static async Task<List<JsonNode>> All(HttpClient client, string path)
    {
        var records = new List<JsonNode>();
        string? token = null;
        var separator = path.Contains('?') ? "&" : "?";
        do
        {
            var url = token is null ? path : $"{path}{separator}continue={Uri.EscapeDataString(token)}";
            var page = await (await client.GetAsync(url)).AssertOk();
            Assert.Equal(page["records"]!.AsArray().Count, page["count"]!.GetValue<int>());
            records.AddRange(page["records"]!.AsArray().Select(r => r!));
            token = page["continue"]?.GetValue<string>();
        }
        while (token is not null);
        return records;
    }

    public static async Task<List<JsonNode>> ForTarget(HttpClient client, string path, string target) =>
        (await All(client, path)).Where(r => r.Target() == target).ToList();

    public static string Str(this JsonNode record, string field) => record[field]!.GetValue<string>();

    /// <summary>Logins and refused bodies have no target.</summary>
    public static string? Target(this JsonNode record) => record["target"]?.GetValue<string>();
}

[Collection(ApiCollection.Name)]
public sealed class AuditTests(ApiFixture api)
{
    private static string NewName() => "a" + Guid.NewGuid().ToString("N")[..8];

    private static object Model(string name) => new { name, framework = "sklearn", storageUri = "gs://bucket/model" };

    [Fact]
    public async Task Each_model_change_leaves_one_record_with_actor_tenant_and_outcome()
    {
        var tenant = api.Tenant("tenant-a");
        var name = NewName();
        await (await tenant.PostJson("/api/models", Model(name))).AssertOk(HttpStatusCode.Created);
        await (await tenant.PutJson($"/api/models/{name}", new { maxReplicas = 4 })).AssertOk();
        await (await tenant.DeleteAsync($"/api/models/{name}")).AssertOk();

        // Reads are not audited.
        await tenant.GetAsync($"/api/models/{name}");

        var own = await AuditReads.ForTarget(tenant, "/api/audit", $"tenant-a/{name}");
        Assert.Equal(["model.delete", "model.update", "model.create"], own.Select(r => r.Str("action")));
        Assert.All(own, r =>
        {
            Assert.Equal("tenant-a-user", r.Str("actor"));
            Assert.Equal("tenant-a", r.Str("tenant"));
            Assert.Equal("success", r.Str("outcome"));
            Assert.Equal("127.0.0.1", r.Str("sourceIp"));
            Assert.True(DateTimeOffset.Parse(r.Str("time")) > DateTimeOffset.UtcNow.AddMinutes(-5));
        });
        Assert.Equal([200, 200, 201], own.Select(r => r["status"]!.GetValue<int>()));

        // The admin sees the same records, per tenant and across tenants.
        Assert.Equal(3, (await AuditReads.ForTarget(api.Admin(), "/api/admin/audit?tenant=tenant-a", $"tenant-a/{name}")).Count);
        Assert.Equal(3, (await AuditReads.ForTarget(api.Admin(), "/api/admin/audit", $"tenant-a/{name}")).Count);
        // And no other tenant does.
        Assert.Empty(await AuditReads.ForTarget(api.Tenant("tenant-b"), "/api/audit", $"tenant-a/{name}"));
    }

    [Fact]
    public async Task Failed_changes_are_recorded_as_failures_with_their_status()
    {
        var tenant = api.Tenant("tenant-a");
        var name = NewName();
        await (await tenant.PostJson("/api/models", Model(name))).AssertOk(HttpStatusCode.Created);
        await (await tenant.PostJson("/api/models", Model(name))).AssertError(HttpStatusCode.Conflict);
        var missing = NewName();
        await (await tenant.PutJson($"/api/models/{missing}", new { maxReplicas = 2 })).AssertError(HttpStatusCode.NotFound);
        await (await tenant.DeleteAsync($"/api/models/{missing}")).AssertError(HttpStatusCode.NotFound);
        await (await tenant.DeleteAsync($"/api/models/{name}?namespace=tenant-b")).AssertError(HttpStatusCode.Forbidden);
        await (await tenant.PostJson("/api/models", new { name, framework = "sklearn", storageUri = "gs://b/m", minReplicas = -1 }))
            .AssertError(HttpStatusCode.BadRequest);

        var creates = await AuditReads.ForTarget(tenant, "/api/audit?action=model.create", $"tenant-a/{name}");
        Assert.Equal([("failure", 400), ("failure", 409), ("success", 201)], creates.Select(r => (r.Str("outcome"), r["status"]!.GetValue<int>())));

        var onMissing = await AuditReads.ForTarget(tenant, "/api/audit", $"tenant-a/{missing}");
        Assert.Equal([("model.delete", 404), ("model.update", 404)], onMissing.Select(r => (r.Str("action"), r["status"]!.GetValue<int>())));
        Assert.All(onMissing, r => Assert.Equal("failure", r.Str("outcome")));

        // A refused attempt on another tenant's model writes nothing: above all nothing in that tenant's trail.
        Assert.Empty(await AuditReads.ForTarget(api.Admin(), "/api/admin/audit?tenant=tenant-b", $"tenant-b/{name}"));
        Assert.DoesNotContain(await AuditReads.All(api.Admin(), "/api/admin/audit?action=model.delete"), r => r["status"]!.GetValue<int>() == 403);

        await (await tenant.DeleteAsync($"/api/models/{name}")).AssertOk();
    }

    [Fact]
    public async Task Kubectl_commands_are_recorded_as_given_refusals_included_and_secrets_redacted()
    {
        var admin = api.Admin();
        var marker = Guid.NewGuid().ToString("N");
        var allowed = $"get pods -n tenant-a -l run={marker}";
        var refused = $"get pods --token=s3cret{marker}";
        await (await admin.PostJson("/api/admin/kubectl", new { command = allowed })).AssertOk();
        await (await admin.PostJson("/api/admin/kubectl", new { command = refused })).AssertError(HttpStatusCode.BadRequest);

        var records = (await AuditReads.All(admin, "/api/admin/audit?action=kubectl"))
            .Where(r => r["target"]?.GetValue<string>().Contains(marker, StringComparison.Ordinal) == true || r["target"]?.GetValue<string>() == "get pods --token=[redacted]")
            .ToList();
        var ok = Assert.Single(records, r => r.Target() == allowed);
        Assert.Equal(("admin", "success", 200), (ok.Str("actor"), ok.Str("outcome"), ok["status"]!.GetValue<int>()));
        Assert.Null(ok["tenant"]);
        Assert.Contains(records, r => r.Target() == "get pods --token=[redacted]" && r.Str("outcome") == "failure");
        Assert.DoesNotContain(records, r => r.ToJsonString().Contains("s3cret", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Pages_come_newest_first_with_filters_and_continuation()
    {
        var tenant = api.Tenant("tenant-c");
        var names = new[] { NewName(), NewName(), NewName() };
        var before = DateTimeOffset.UtcNow.AddSeconds(-1);
        foreach (var name in names)
        {
            await (await tenant.DeleteAsync($"/api/models/{name}")).AssertError(HttpStatusCode.NotFound);
        }
        var after = DateTimeOffset.UtcNow.AddSeconds(1);

        var page = await (await tenant.GetAsync($"/api/audit?action=model.delete&limit=1&from={Uri.EscapeDataString(before.ToString("O"))}")).AssertOk();
        Assert.True(page["records"]!.AsArray().Count <= 1);
        var ours = (await AuditReads.All(tenant, $"/api/audit?action=model.delete&limit=1&from={Uri.EscapeDataString(before.ToString("O"))}&to={Uri.EscapeDataString(after.ToString("O"))}"))
            .Select(r => r.Target()).Where(t => names.Any(n => t == $"tenant-c/{n}")).ToList();
        Assert.Equal(names.Reverse().Select(n => $"tenant-c/{n}"), ours);

        var later = await (await tenant.GetAsync($"/api/audit?from={Uri.EscapeDataString(after.AddMinutes(1).ToString("O"))}")).AssertOk();
        Assert.Empty(later["records"]!.AsArray());
        var earlier = await AuditReads.All(tenant, $"/api/audit?to={Uri.EscapeDataString(before.AddMinutes(-30).ToString("O"))}");
        Assert.DoesNotContain(earlier, r => names.Any(n => r.Target() == $"tenant-c/{n}"));
    }

    [Theory]
    [InlineData("/api/audit?tenant=tenant-b", HttpStatusCode.Forbidden)]
    [InlineData("/api/audit?tenant=Not_A_Namespace", HttpStatusCode.BadRequest)]
    [InlineData("/api/audit?limit=0", HttpStatusCode.BadRequest)]
    [InlineData("/api/audit?limit=501", HttpStatusCode.BadRequest)]
    [InlineData("/api/audit?limit=ten", HttpStatusCode.BadRequest)]
    [InlineData("/api/audit?from=yesterday", HttpStatusCode.BadRequest)]
    [InlineData("/api/audit?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", HttpStatusCode.BadRequest)]
    [InlineData("/api/audit?action=DROP%20TABLE", HttpStatusCode.BadRequest)]
    public async Task Bad_audit_queries_are_refused(string path, HttpStatusCode status)
    {
        await (await api.Tenant("tenant-a").GetAsync(path)).AssertError(status);
    }

    [Fact]
    public async Task The_tenant_trail_needs_a_token()
    {
        await (await api.Client().GetAsync("/api/audit")).AssertError(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Cors_allows_exactly_the_configured_origins()
    {
        async Task<HttpResponseMessage> Preflight(string origin)
        {
            var request = new HttpRequestMessage(HttpMethod.Options, "/api/models");
            request.Headers.Add("Origin", origin);
            request.Headers.Add("Access-Control-Request-Method", "POST");
            request.Headers.Add("Access-Control-Request-Headers", "authorization,content-type");
            return await api.Client().SendAsync(request);
        }
        var allowed = await Preflight(api.CorsOrigin!);
        Assert.Equal(api.CorsOrigin, allowed.Headers.GetValues("Access-Control-Allow-Origin").Single());
        var other = await Preflight("https://evil.example");
        Assert.False(other.Headers.Contains("Access-Control-Allow-Origin"));
    }
}

public sealed class AuditRedactionTests
{
    [Theory]
    [InlineData("get pods --token=abc123", "get pods --token=[redacted]")]
    [InlineData("get pods --token abc123 -n x", "get pods --token [redacted] -n x")]
    [InlineData("get pods --password=hunter2", "get pods --password=[redacted]")]
    [InlineData("key pk_live_AbCdEf0123456789AbCdEf0123456789xyz", "key pk_live_AbCdEf...")]
    [InlineData("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "[redacted token]")]
    [InlineData("get pods -n tenant-a", "get pods -n tenant-a")]
    [InlineData("get deploy-p x", "get deploy-p x")]
    public void Secret_looking_text_is_redacted(string given, string stored) =>
        Assert.Equal(stored, Inference.ApiHost.Audit.AuditRedaction.Scrub(given, 1024));

    [Fact]
    public void Long_text_is_truncated() =>
        Assert.Equal(new string('a', 10) + "...", Inference.ApiHost.Audit.AuditRedaction.Scrub(new string('a', 50), 10));
}
