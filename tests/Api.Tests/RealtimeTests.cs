using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Inference.TestSupport;

namespace Inference.Api.Tests;

[Collection(ApiCollection.Name)]
public sealed class RealtimeTests(ApiFixture api)
{
    private static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 9)];

    private static object NewModel(string name) =>
        new { name, framework = "sklearn", storageUri = "gs://kfserving-examples/models/sklearn/1.0/model", minReplicas = 1, maxReplicas = 2 };

    private static string Type(JsonNode m) => m["type"]!.GetValue<string>();

    [Fact]
    public async Task A_model_lifecycle_arrives_in_order_in_the_rest_shape()
    {
        const string tenant = "tenant-c";
        var client = api.Tenant(tenant);
        await using var socket = await EventSocketClient.ConnectAsync(api.BaseAddress, api.Tokens.Tenant(tenant));
        var name = Unique("life");
        bool Mine(JsonNode m) => m["name"]?.GetValue<string>() == name;

        await (await client.PostJson("/api/models", NewModel(name))).AssertOk(HttpStatusCode.Created);
        // Other tests' models in this tenant may still be settling; this test follows its own model.
        var (created, _) = await socket.WaitForAsync(Mine);
        Assert.Equal("model.created", Type(created));
        Assert.Equal(tenant, created["tenant"]!.GetValue<string>());
        Assert.Equal("model", created["kind"]!.GetValue<string>());
        Assert.Equal(name, created["name"]!.GetValue<string>());
        Assert.True(DateTimeOffset.Parse(created["time"]!.GetValue<string>()) > DateTimeOffset.UtcNow.AddMinutes(-5));
        Assert.Equal("sklearn", created["resource"]!["predictor"]!["framework"]!.GetValue<string>());
        Assert.Equal(name, created["resource"]!["name"]!.GetValue<string>());

        var (ready, seenUntilReady) = await socket.WaitForAsync(m => Mine(m) && m["resource"]?["ready"]?.GetValue<bool>() == true);
        var statuses = seenUntilReady.Where(Mine).ToList();
        Assert.All(statuses, m => Assert.Equal("model.status", Type(m)));
        Assert.Equal("Ready", ready["resource"]!["statusDetails"]!["phase"]!.GetValue<string>());
        Assert.EndsWith($"/v1/models/{name}:predict", ready["resource"]!["url"]!.GetValue<string>());

        // The REST representation and the event's carry the same fields.
        // Compared once REST shows the same Ready state (a CI run once read REST without the url right after the
        // Ready event; see the issue notes).
        var eventFields = ready["resource"]!.AsObject().Select(p => p.Key).Order().ToList();
        var rest = await TestEnvironment.Eventually(
            async () => await (await client.GetAsync($"/api/models/{name}")).AssertOk(),
            r => r["ready"]?.GetValue<bool>() == true && r["url"] is not null, TimeSpan.FromSeconds(30), "REST to show the Ready model");
        Assert.Equal(eventFields, rest.AsObject().Select(p => p.Key).Order().ToList());

        await (await client.PutJson($"/api/models/{name}", new { maxReplicas = 3 })).AssertOk();
        var (updated, _) = await socket.WaitForAsync(m => Mine(m) && Type(m) == "model.updated");
        Assert.Equal(3, updated["resource"]!["predictor"]!["maxReplicas"]!.GetValue<int>());

        await (await client.DeleteAsync($"/api/models/{name}")).AssertOk();
        var (deleted, seenUntilDeleted) = await socket.WaitForAsync(m => Mine(m) && Type(m) == "model.deleted");
        var between = seenUntilDeleted.Where(Mine).ToList();
        Assert.DoesNotContain(between, m => Type(m) == "model.created");
        Assert.Equal(name, deleted["name"]!.GetValue<string>());

        var all = new[] { created }.Concat(statuses).Append(updated).Concat(between).ToList();
        var sequences = all.Select(m => m["sequence"]!.GetValue<long>()).ToList();
        Assert.True(sequences.Zip(sequences.Skip(1)).All(p => p.Second > p.First), "sequence numbers must increase: " + string.Join(",", sequences));
    }

    [Fact]
    public async Task Publish_update_rotate_unpublish_and_delete_arrive_in_order_without_a_full_key()
    {
        const string tenant = "tenant-b";
        var client = api.Tenant(tenant);
        await using var socket = await EventSocketClient.ConnectAsync(api.BaseAddress, api.Tokens.Tenant(tenant));
        var name = await api.ReadyModelAsync(client);
        bool Mine(JsonNode m) => m["name"]?.GetValue<string>() == name;

        var published = await client.PublishAsync(name);
        var firstKey = published.Key();
        await (await client.PutJson($"/api/models/{name}/publish", new { config = new { rateLimiting = new { requestsPerMinute = 50, requestsPerHour = 1000 } } })).AssertOk();
        var rotated = await (await client.PostJson($"/api/models/{name}/publish/rotate-key", new { })).AssertOk();
        var secondKey = rotated["newApiKey"]!.GetValue<string>();
        await (await client.DeleteAsync($"/api/models/{name}/publish")).AssertOk();
        await client.PublishAsync(name);
        await (await client.DeleteAsync($"/api/models/{name}")).AssertOk();

        var (_, seen) = await socket.WaitForAsync(m => Mine(m) && Type(m) == "model.deleted");
        var mine = seen.Where(Mine).Where(m => Type(m) != "model.status").ToList();
        var expected = new[]
        {
            "model.published", "model.publication-updated", "apikey.rotated", "model.unpublished",
            "model.published", "model.unpublished", "model.deleted",
        };
        Assert.Equal(expected, mine.Select(Type).SkipWhile(t => t != "model.published").ToArray());
        var sequences = mine.Select(m => m["sequence"]!.GetValue<long>()).ToList();
        Assert.True(sequences.Zip(sequences.Skip(1)).All(p => p.Second > p.First), string.Join(",", sequences));

        var publication = mine.First(m => Type(m) == "model.published");
        Assert.Equal("publication", publication["kind"]!.GetValue<string>());
        Assert.Equal(name, publication["resource"]!["modelName"]!.GetValue<string>());
        Assert.EndsWith("...", publication["resource"]!["apiKey"]!.GetValue<string>());
        Assert.Equal(50, mine.First(m => Type(m) == "model.publication-updated")["resource"]!["rateLimiting"]!["requestsPerMinute"]!.GetValue<int>());
        foreach (var message in seen)
        {
            var text = message.ToJsonString();
            Assert.DoesNotContain(firstKey, text);
            Assert.DoesNotContain(secondKey, text);
            Assert.DoesNotContain(firstKey[..20], text);
        }
    }

    [Fact]
    public async Task Key_usage_reaches_the_stream_as_summaries_at_the_write_behind_rate()
    {
        const string tenant = "tenant-a";
        var client = api.Tenant(tenant);
        await using var socket = await EventSocketClient.ConnectAsync(api.BaseAddress, api.Tokens.Tenant(tenant));
        var name = await api.ReadyModelAsync(client);
        var key = (await client.PublishAsync(name)).Key();
        var gateway = api.Client();
        for (var i = 0; i < 3; i++)
        {
            (await gateway.ValidateAsync(key)).EnsureSuccessStatusCode();
        }

        var (summary, _) = await socket.WaitForAsync(m => Type(m) == "usage.summary" && m["name"]!.GetValue<string>() == name
            && m["resource"]!["usage"]!["totalRequests"]!.GetValue<long>() == 3);
        Assert.Equal("publication", summary["kind"]!.GetValue<string>());
        Assert.Equal(3, summary["resource"]!["usage"]!["requestsToday"]!.GetValue<long>());
        Assert.NotNull(summary["resource"]!["usage"]!["lastAccessTime"]);
        Assert.DoesNotContain("pk_live_", summary.ToJsonString());
        await (await client.DeleteAsync($"/api/models/{name}")).AssertOk();
    }

    [Fact]
    public async Task A_tenant_sees_only_its_own_tenant_and_an_admin_sees_all_or_one()
    {
        const string a = "tenant-a";
        const string b = "tenant-b";
        await using var socketA = await EventSocketClient.ConnectAsync(api.BaseAddress, api.Tokens.Tenant(a));
        await using var socketB = await EventSocketClient.ConnectAsync(api.BaseAddress, api.Tokens.Tenant(b), tokenInQuery: true);
        await using var admin = await EventSocketClient.ConnectAsync(api.BaseAddress, api.Tokens.Admin());
        await using var adminOfB = await EventSocketClient.ConnectAsync(api.BaseAddress, api.Tokens.Admin(), $"namespace={b}");

        var modelA = Unique("ma");
        await (await api.Tenant(a).PostJson("/api/models", NewModel(modelA))).AssertOk(HttpStatusCode.Created);
        await socketA.WaitForAsync(m => Type(m) == "model.created" && m["name"]!.GetValue<string>() == modelA);
        await admin.WaitForAsync(m => m["tenant"]!.GetValue<string>() == a && m["name"]!.GetValue<string>() == modelA);
        await (await api.Tenant(a).DeleteAsync($"/api/models/{modelA}")).AssertOk();
        await socketA.WaitForAsync(m => Type(m) == "model.deleted" && m["name"]!.GetValue<string>() == modelA);

        // Tenant b's first event is its own model: nothing of tenant a arrived before it.
        var modelB = Unique("mb");
        await (await api.Tenant(b).PostJson("/api/models", NewModel(modelB))).AssertOk(HttpStatusCode.Created);
        var (_, seenByB) = await socketB.WaitForAsync(m => m["name"]?.GetValue<string>() == modelB);
        Assert.All(seenByB, m => Assert.Equal(b, m["tenant"]!.GetValue<string>()));
        var (_, seenByAdminOfB) = await adminOfB.WaitForAsync(m => m["name"]?.GetValue<string>() == modelB);
        Assert.All(seenByAdminOfB, m => Assert.Equal(b, m["tenant"]!.GetValue<string>()));
        await admin.WaitForAsync(m => m["tenant"]!.GetValue<string>() == b && m["name"]!.GetValue<string>() == modelB);
        await (await api.Tenant(b).DeleteAsync($"/api/models/{modelB}")).AssertOk();
    }

    [Fact]
    public async Task The_model_parameter_narrows_to_one_model()
    {
        const string tenant = "tenant-a";
        var watched = Unique("watched");
        var other = Unique("other");
        await using var socket = await EventSocketClient.ConnectAsync(api.BaseAddress, api.Tokens.Tenant(tenant), $"model={watched}");
        var client = api.Tenant(tenant);
        await (await client.PostJson("/api/models", NewModel(other))).AssertOk(HttpStatusCode.Created);
        await (await client.PostJson("/api/models", NewModel(watched))).AssertOk(HttpStatusCode.Created);
        var first = await socket.NextAsync();
        Assert.Equal("model.created", Type(first));
        Assert.Equal(watched, first["name"]!.GetValue<string>());
        await client.DeleteAsync($"/api/models/{other}");
        await client.DeleteAsync($"/api/models/{watched}");
        var (_, seen) = await socket.WaitForAsync(m => Type(m) == "model.deleted" && m["name"]!.GetValue<string>() == watched);
        Assert.All(seen, m => Assert.Equal(watched, m["name"]!.GetValue<string>()));
    }

    [Fact]
    public async Task Connecting_needs_a_valid_token_and_respects_tenant_scope()
    {
        Assert.Equal(HttpStatusCode.Unauthorized, await EventSocketClient.RefusedAsync(api.BaseAddress, null));
        Assert.Equal(HttpStatusCode.Unauthorized, await EventSocketClient.RefusedAsync(api.BaseAddress, "not-a-token"));
        Assert.Equal(HttpStatusCode.Unauthorized, await EventSocketClient.RefusedAsync(api.BaseAddress, "not-a-token", tokenInQuery: true));
        var foreign = new Tokens(Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(48)));
        Assert.Equal(HttpStatusCode.Unauthorized, await EventSocketClient.RefusedAsync(api.BaseAddress, foreign.Tenant("tenant-a")));
        Assert.Equal(HttpStatusCode.Unauthorized, await EventSocketClient.RefusedAsync(api.BaseAddress,
            api.Tokens.Unsigned(Tokens.Claims("x", "tenant-a", true)), tokenInQuery: true));
        Assert.Equal(HttpStatusCode.Unauthorized, await EventSocketClient.RefusedAsync(api.BaseAddress,
            api.Tokens.Sign(Tokens.Claims("x", "tenant-a", false), expires: DateTime.UtcNow.AddHours(-1))));
        Assert.Equal(HttpStatusCode.Forbidden, await EventSocketClient.RefusedAsync(api.BaseAddress, api.Tokens.Tenant("tenant-b"), "namespace=tenant-a"));
        Assert.Equal(HttpStatusCode.BadRequest, await EventSocketClient.RefusedAsync(api.BaseAddress, api.Tokens.Tenant("tenant-b"), "model=Not_A_Name"));
        Assert.Equal(HttpStatusCode.BadRequest, await EventSocketClient.RefusedAsync(api.BaseAddress, api.Tokens.Admin(), "namespace=Bad_Namespace"));

        // The query-string token works only on /ws.
        var plain = await api.Client().GetAsync($"/api/models?access_token={Uri.EscapeDataString(api.Tokens.Tenant("tenant-a"))}");
        await plain.AssertError(HttpStatusCode.Unauthorized, "Authentication required");

        // A plain GET (no upgrade) gets the contract's error shape.
        var noUpgrade = await api.Tenant("tenant-a").GetAsync("/ws");
        await noUpgrade.AssertError(HttpStatusCode.BadRequest, "WebSocket upgrade");
        var anonymous = await api.Client().GetAsync("/ws");
        await anonymous.AssertError(HttpStatusCode.Unauthorized, "Authentication required");
    }
}
