using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using static Inference.Api.Tests.PublishingSupport;

namespace Inference.Api.Tests;

/// <summary>A box with small tenant quotas and an allow-listed in-cluster model store; its own, because it
/// configures both and restarts.</summary>
public sealed class TenantLimitsFixture : ApiFixture
{
    public const int MaxModels = 3;
    public const int MaxPublications = 2;
    public const int MaxReplicas = 10;

    protected override void Configure(IDictionary<string, string?> settings)
    {
        settings["TenantQuotas:MaxModels"] = MaxModels.ToString();
        settings["TenantQuotas:MaxPublications"] = MaxPublications.ToString();
        settings["TenantQuotas:MaxReplicas"] = MaxReplicas.ToString();
        settings["ModelStorage:AllowedHosts:0"] = "10.20.0.0/16";
        settings["ModelStorage:AllowedHosts:1"] = "models.localhost";
    }

    /// <summary>A tenant namespace no other test uses, so every test starts with an empty quota.</summary>
    public async Task<string> NewTenantAsync()
    {
        var ns = "q" + Guid.NewGuid().ToString("N")[..8];
        await this.Kubernetes().CoreV1.CreateNamespaceAsync(new V1Namespace
        {
            Metadata = new V1ObjectMeta { Name = ns, Labels = new Dictionary<string, string> { ["inference-in-a-box.io/tenant"] = "true" } },
        });
        return ns;
    }
}

[CollectionDefinition(Name)]
public sealed class TenantLimitsCollection : ICollectionFixture<TenantLimitsFixture>
{
    public const string Name = "tenant-limits";
}

[Collection(TenantLimitsCollection.Name)]
public sealed class TenantQuotaTests(TenantLimitsFixture api)
{
    private static object Model(string name, int maxReplicas = 1) =>
        new { name, framework = "sklearn", storageUri = "gs://kfserving-examples/models/sklearn/1.0/model", maxReplicas };

    private async Task<List<string>> InferenceServices(string ns)
    {
        var list = await api.Kubernetes().CustomObjects.ListNamespacedCustomObjectAsync("serving.kserve.io", "v1beta1", ns, "inferenceservices");
        return [.. JsonNode.Parse(((JsonElement)list).GetRawText())!["items"]!.AsArray().Select(i => i!["metadata"]!["name"]!.GetValue<string>())];
    }

    [Fact]
    public async Task Creates_past_the_model_quota_get_403_even_when_they_all_arrive_at_once()
    {
        var ns = await api.NewTenantAsync();
        var tenant = api.Tenant(ns);
        var names = Enumerable.Range(0, TenantLimitsFixture.MaxModels * 2).Select(_ => NewName()).ToList();

        var answers = await Task.WhenAll(names.Select(n => tenant.PostJson("/api/models", Model(n))));

        Assert.Equal(TenantLimitsFixture.MaxModels, answers.Count(a => a.StatusCode == HttpStatusCode.Created));
        foreach (var refused in answers.Where(a => a.StatusCode != HttpStatusCode.Created))
        {
            await refused.AssertError(HttpStatusCode.Forbidden, $"at most {TenantLimitsFixture.MaxModels} models");
        }
        var created = names.Where((_, i) => answers[i].StatusCode == HttpStatusCode.Created).ToList();
        Assert.Equal(created.Order(), (await InferenceServices(ns)).Order());
        Assert.Equal(TenantLimitsFixture.MaxModels, (await (await tenant.GetAsync("/api/models")).AssertOk())["total"]!.GetValue<int>());

        // Deleting one makes room for one.
        await (await tenant.DeleteAsync($"/api/models/{created[0]}")).AssertOk();
        await (await tenant.PostJson("/api/models", Model(NewName()))).AssertOk(HttpStatusCode.Created);
        await (await tenant.PostJson("/api/models", Model(NewName()))).AssertError(HttpStatusCode.Forbidden, "quota");
    }

    [Fact]
    public async Task A_failed_create_gives_its_reservation_back()
    {
        var ns = await api.NewTenantAsync();
        var tenant = api.Tenant(ns);
        for (var i = 1; i < TenantLimitsFixture.MaxModels; i++)
        {
            await (await tenant.PostJson("/api/models", Model(NewName()))).AssertOk(HttpStatusCode.Created);
        }
        // An InferenceService this service does not manage occupies the name: Kubernetes refuses the create.
        var taken = NewName();
        var foreign = new JsonObject
        {
            ["apiVersion"] = "serving.kserve.io/v1beta1",
            ["kind"] = "InferenceService",
            ["metadata"] = new JsonObject { ["name"] = taken, ["namespace"] = ns },
            ["spec"] = new JsonObject { ["predictor"] = new JsonObject { ["model"] = new JsonObject { ["modelFormat"] = new JsonObject { ["name"] = "onnx" }, ["storageUri"] = "s3://x/y" } } },
        };
        await api.Kubernetes().CustomObjects.CreateNamespacedCustomObjectAsync(foreign, "serving.kserve.io", "v1beta1", ns, "inferenceservices");

        await (await tenant.PostJson("/api/models", Model(taken))).AssertError(HttpStatusCode.Conflict, "already exists");

        // The last place is still free.
        await (await tenant.PostJson("/api/models", Model(NewName()))).AssertOk(HttpStatusCode.Created);
        await (await tenant.PostJson("/api/models", Model(NewName()))).AssertError(HttpStatusCode.Forbidden, "models");
    }

    [Fact]
    public async Task Replicas_past_the_quota_get_403_on_create_and_on_update()
    {
        var ns = await api.NewTenantAsync();
        var tenant = api.Tenant(ns);
        var big = NewName();
        await (await tenant.PostJson("/api/models", Model(big, maxReplicas: 6))).AssertOk(HttpStatusCode.Created);

        var refused = await (await tenant.PostJson("/api/models", Model(NewName(), maxReplicas: 5)))
            .AssertError(HttpStatusCode.Forbidden, $"at most {TenantLimitsFixture.MaxReplicas} replicas");
        Assert.Contains("6 are taken", refused["details"]!.GetValue<string>());
        Assert.Single(await InferenceServices(ns));
        var small = NewName();
        await (await tenant.PostJson("/api/models", Model(small, maxReplicas: 4))).AssertOk(HttpStatusCode.Created);

        await (await tenant.PutJson($"/api/models/{big}", new { maxReplicas = 7 })).AssertError(HttpStatusCode.Forbidden, "replicas");
        var unchanged = await (await tenant.GetAsync($"/api/models/{big}")).AssertOk();
        Assert.Equal(6, unchanged["predictor"]!["maxReplicas"]!.GetValue<int>());
        // Shrinking is always allowed, and frees room for others.
        await (await tenant.PutJson($"/api/models/{big}", new { maxReplicas = 2 })).AssertOk();
        await (await tenant.PutJson($"/api/models/{small}", new { maxReplicas = 8 })).AssertOk();
        await (await tenant.PostJson("/api/models", Model(NewName(), maxReplicas: 1))).AssertError(HttpStatusCode.Forbidden, "replicas");
    }

    [Fact]
    public async Task Publications_past_the_quota_get_403_even_when_they_all_arrive_at_once()
    {
        var ns = await api.NewTenantAsync();
        var tenant = api.Tenant(ns);
        var names = new List<string>();
        for (var i = 0; i < TenantLimitsFixture.MaxPublications + 1; i++)
        {
            names.Add(await api.ReadyModelAsync(tenant));
        }

        var answers = await Task.WhenAll(names.Select(n => tenant.PostJson($"/api/models/{n}/publish", Config())));

        Assert.Equal(TenantLimitsFixture.MaxPublications, answers.Count(a => a.StatusCode == HttpStatusCode.Created));
        var left = names[Array.FindIndex(answers, a => a.StatusCode != HttpStatusCode.Created)];
        await answers.Single(a => a.StatusCode != HttpStatusCode.Created)
            .AssertError(HttpStatusCode.Forbidden, $"at most {TenantLimitsFixture.MaxPublications} published models");
        await (await tenant.GetAsync($"/api/models/{left}/publish")).AssertError(HttpStatusCode.NotFound);
        Assert.Null(await api.Kubernetes().GatewayObjectAsync("gateway.networking.k8s.io", "v1", "httproutes",
            Inference.Grains.Gateway.GatewayObjects.ObjectName(ns, left)));
        // Its route was not kept either: once there is room, it publishes on it.
        await (await tenant.DeleteAsync($"/api/models/{names.First(n => n != left)}/publish")).AssertOk();
        await tenant.PublishAsync(left);
    }

    [Fact]
    public async Task A_route_claim_survives_a_restart_of_the_box()
    {
        var a = await api.NewTenantAsync();
        var b = await api.NewTenantAsync();
        var host = $"r{Guid.NewGuid():N}"[..12] + ".example.com";
        var owner = await api.ReadyModelAsync(api.Tenant(a));
        var other = await api.ReadyModelAsync(api.Tenant(b));
        await api.Tenant(a).PublishAsync(owner, Config(host: host, path: "/kept"));

        await api.RestartAsync();

        await (await api.Tenant(b).PostJson($"/api/models/{other}/publish", Config(host: host, path: "/kept/inside")))
            .AssertError(HttpStatusCode.Conflict, "already claimed");
        await (await api.Tenant(a).DeleteAsync($"/api/models/{owner}/publish")).AssertOk();
        await api.Tenant(b).PublishAsync(other, Config(host: host, path: "/kept/inside"));
    }
}

/// <summary>An http(s) storageUri is fetched from inside the cluster, so it must not name the cluster's own
/// addresses unless an admin allowed them.</summary>
[Collection(TenantLimitsCollection.Name)]
public sealed class StorageUriTests(TenantLimitsFixture api)
{
    public static TheoryData<string> Internal => new()
    {
        "https://127.0.0.1/model",
        "https://127.1/model",
        "https://2130706433/model",
        "https://0x7f.0.0.1/model",
        "https://user@127.0.0.1:8443/model",
        "https://localhost/model",
        "https://LOCALHOST./model",
        "https://api.localhost/model",
        "https://0.0.0.0/model",
        "https://10.1.2.3/model",
        "https://10.21.0.1/model",
        "https://172.16.5.4/model",
        "https://192.168.1.10/model",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/model",
        "https://[::]/model",
        "https://[::ffff:127.0.0.1]/model",
        "https://[fe80::1]/model",
        "https://[fd12:3456::1]/model",
        "https://example.com\\@127.0.0.1/model",
    };

    public static TheoryData<string> Admitted => new()
    {
        "https://storage.googleapis.com/bucket/model",
        "https://8.8.8.8/model",
        "https://[2001:4860::8888]/model",
        "https://10.20.3.4/models/iris",
        "https://models.localhost:9000/iris",
    };

    [Theory]
    [MemberData(nameof(Internal))]
    public async Task Internal_addresses_are_refused_on_create_and_on_update(string uri)
    {
        var tenant = api.Tenant(await api.NewTenantAsync());
        var name = NewName();
        await (await tenant.PostJson("/api/models", new { name, framework = "sklearn", storageUri = uri }))
            .AssertError(HttpStatusCode.BadRequest, "storageUri");
        await (await tenant.GetAsync($"/api/models/{name}")).AssertError(HttpStatusCode.NotFound);

        await (await tenant.PostJson("/api/models", new { name, framework = "sklearn", storageUri = "gs://bucket/model" })).AssertOk(HttpStatusCode.Created);
        await (await tenant.PutJson($"/api/models/{name}", new { storageUri = uri })).AssertError(HttpStatusCode.BadRequest, "storageUri");
        var kept = await (await tenant.GetAsync($"/api/models/{name}")).AssertOk();
        Assert.Equal("gs://bucket/model", kept["predictor"]!["storageUri"]!.GetValue<string>());
        await (await tenant.DeleteAsync($"/api/models/{name}")).AssertOk();
    }

    [Theory]
    [MemberData(nameof(Admitted))]
    public async Task Public_and_allow_listed_stores_are_accepted(string uri)
    {
        var tenant = api.Tenant(await api.NewTenantAsync());
        var name = NewName();
        await (await tenant.PostJson("/api/models", new { name, framework = "sklearn", storageUri = "gs://bucket/model" })).AssertOk(HttpStatusCode.Created);
        await (await tenant.PutJson($"/api/models/{name}", new { storageUri = uri })).AssertOk();
        await (await tenant.DeleteAsync($"/api/models/{name}")).AssertOk();
        await (await tenant.PostJson("/api/models", new { name = NewName(), framework = "sklearn", storageUri = uri })).AssertOk(HttpStatusCode.Created);
    }
}
