using System.Net;

namespace Inference.Api.Tests;

/// <summary>Its own box, because it restarts the API host (and the silo in it) and makes a failed login; and it
/// runs without CORS_ORIGINS.</summary>
public sealed class AuditRestartFixture : ApiFixture
{
    public override string? CorsOrigin => null;
}

[CollectionDefinition(Name)]
public sealed class AuditRestartCollection : ICollectionFixture<AuditRestartFixture>
{
    public const string Name = "audit-restart";
}

[Collection(AuditRestartCollection.Name)]
public sealed class AuditPersistenceTests(AuditRestartFixture api)
{
    [Fact]
    public async Task Logins_and_changes_survive_a_restart_of_the_box_without_passwords_or_tokens()
    {
        var password = "wrong-" + Guid.NewGuid().ToString("N");
        await (await api.Client().PostJson("/api/admin/login", new { username = "admin", password })).AssertError(HttpStatusCode.Unauthorized);
        var login = await (await api.Client().PostJson("/api/admin/login", new { username = "admin", password = "password" })).AssertOk();
        var token = login["token"]!.GetValue<string>();
        var name = "p" + Guid.NewGuid().ToString("N")[..8];
        await (await api.Tenant("tenant-b").PostJson("/api/models", new { name, framework = "sklearn", storageUri = "gs://bucket/model" }))
            .AssertOk(HttpStatusCode.Created);

        await api.RestartAsync();

        var records = await AuditReads.All(api.Client(token), "/api/admin/audit");
        var created = Assert.Single(records, r => r.Target() == $"tenant-b/{name}");
        Assert.Equal(("model.create", "tenant-b-user", "success"), (created.Str("action"), created.Str("actor"), created.Str("outcome")));
        var ok = Assert.Single(records, r => r.Str("action") == "admin.login");
        Assert.Equal(("admin", "success", 200), (ok.Str("actor"), ok.Str("outcome"), ok["status"]!.GetValue<int>()));
        // Failed logins are counted per source and minute, whoever they claimed to be.
        var failed = Assert.Single(records, r => r.Str("action") == "admin.login.failed");
        Assert.Equal(("*", "failure", 401, 1), (failed.Str("actor"), failed.Str("outcome"), failed["status"]!.GetValue<int>(), failed["count"]!.GetValue<int>()));

        // The tenant still reads its own trail after the restart, too.
        Assert.Single(await AuditReads.ForTarget(api.Tenant("tenant-b"), "/api/audit", $"tenant-b/{name}"));

        var everything = string.Join('\n', records.Select(r => r.ToJsonString()));
        Assert.DoesNotContain(password, everything);
        Assert.DoesNotContain("\"password\"", everything, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(token, everything);
        Assert.DoesNotContain("eyJ", everything);
        Assert.DoesNotContain("pk_live_", everything);
    }

    [Fact]
    public async Task Without_cors_origins_no_cross_origin_access_is_granted()
    {
        var request = new HttpRequestMessage(HttpMethod.Options, "/api/models");
        request.Headers.Add("Origin", "https://console.example.test");
        request.Headers.Add("Access-Control-Request-Method", "GET");
        var response = await api.Client().SendAsync(request);
        Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
        var get = new HttpRequestMessage(HttpMethod.Get, "/health");
        get.Headers.Add("Origin", "https://console.example.test");
        Assert.False((await api.Client().SendAsync(get)).Headers.Contains("Access-Control-Allow-Origin"));
    }
}
