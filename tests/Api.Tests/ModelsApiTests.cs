using System.Net;
using System.Text.Json.Nodes;
using Inference.TestSupport;
using k8s;

namespace Inference.Api.Tests;

[Collection(ApiCollection.Name)]
public sealed class ModelsApiTests(ApiFixture api)
{
    private static string NewName() => "m" + Guid.NewGuid().ToString("N")[..8];

    private static object Model(string name, string? ns = null) => new
    {
        name,
        framework = "sklearn",
        storageUri = "gs://kfserving-examples/models/sklearn/1.0/model",
        minReplicas = 1,
        maxReplicas = 3,
        scaleTarget = 80,
        scaleMetric = "concurrency",
        @namespace = ns,
    };

    private async Task<JsonNode> WaitReady(HttpClient client, string name, string query = "") =>
        await TestEnvironment.Eventually(
            async () => await (await client.GetAsync($"/api/models/{name}{query}")).Json(),
            m => m["ready"]?.GetValue<bool>() == true, what: $"model {name} to become Ready");

    private IKubernetes Kubernetes() =>
        new k8s.Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(api.Emulator.KubeconfigPath));

    [Fact]
    public async Task A_tenant_creates_watches_updates_and_deletes_a_model()
    {
        var tenant = api.Tenant("tenant-a");
        var name = NewName();

        var created = await (await tenant.PostJson("/api/models", Model(name))).AssertOk(HttpStatusCode.Created);
        Assert.Equal("Model created successfully", created["message"]!.GetValue<string>());
        Assert.Equal(name, created["name"]!.GetValue<string>());
        Assert.Equal("tenant-a", created["namespace"]!.GetValue<string>());
        Assert.Equal("sklearn", created["config"]!["framework"]!.GetValue<string>());
        Assert.Equal(3, created["config"]!["maxReplicas"]!.GetValue<int>());

        var ready = await WaitReady(tenant, name);
        Assert.Equal("Ready", ready["status"]!.GetValue<string>());
        Assert.EndsWith($"/v1/models/{name}:predict", ready["url"]!.GetValue<string>());
        Assert.Equal("sklearn", ready["predictor"]!["framework"]!.GetValue<string>());
        Assert.Equal("gs://kfserving-examples/models/sklearn/1.0/model", ready["predictor"]!["storageUri"]!.GetValue<string>());
        Assert.True(DateTimeOffset.Parse(ready["createdAt"]!.GetValue<string>()) > DateTimeOffset.UtcNow.AddMinutes(-5));
        var details = ready["statusDetails"]!;
        Assert.True(details["ready"]!.GetValue<bool>());
        Assert.Equal("Ready", details["phase"]!.GetValue<string>());
        Assert.Contains(details["conditions"]!.AsArray(), c => c!["type"]!.GetValue<string>() == "Ready" && c["status"]!.GetValue<string>() == "True");
        var replicas = await TestEnvironment.Eventually(
            async () => (await (await tenant.GetAsync($"/api/models/{name}")).Json())["statusDetails"]!["replicas"]!,
            r => r["ready"]!.GetValue<int>() == 1, what: "one ready replica");
        Assert.Equal(1, replicas["desired"]!.GetValue<int>());

        var list = await (await tenant.GetAsync("/api/models")).AssertOk();
        Assert.Contains(list["models"]!.AsArray(), m => m!["name"]!.GetValue<string>() == name);

        var updated = await (await tenant.PutJson($"/api/models/{name}", new { minReplicas = 2, maxReplicas = 5, scaleTarget = 70 })).AssertOk();
        Assert.Equal("Model updated successfully", updated["message"]!.GetValue<string>());
        Assert.Equal(2, updated["config"]!["minReplicas"]!.GetValue<int>());
        Assert.Equal("sklearn", updated["config"]!["framework"]!.GetValue<string>());
        var isvc = (System.Text.Json.JsonElement)await Kubernetes().CustomObjects.GetNamespacedCustomObjectAsync(
            "serving.kserve.io", "v1beta1", "tenant-a", "inferenceservices", name);
        var predictor = isvc.GetProperty("spec").GetProperty("predictor");
        Assert.Equal(2, predictor.GetProperty("minReplicas").GetInt32());
        Assert.Equal(5, predictor.GetProperty("maxReplicas").GetInt32());
        Assert.Equal(70, predictor.GetProperty("scaleTarget").GetInt32());
        Assert.Equal("inference-management", isvc.GetProperty("metadata").GetProperty("labels").GetProperty("app.kubernetes.io/managed-by").GetString());

        await TestEnvironment.Eventually(
            async () => (await (await tenant.GetAsync($"/api/models/{name}")).Json())["statusDetails"]!["replicas"]!["ready"]!.GetValue<int>(),
            r => r == 2, what: "two ready replicas after the update");

        var deleted = await (await tenant.DeleteAsync($"/api/models/{name}")).AssertOk();
        Assert.Equal("Model deleted successfully", deleted["message"]!.GetValue<string>());
        await (await tenant.GetAsync($"/api/models/{name}")).AssertError(HttpStatusCode.NotFound, "Model not found");
        var listAfter = await (await tenant.GetAsync("/api/models")).AssertOk();
        Assert.DoesNotContain(listAfter["models"]!.AsArray(), m => m!["name"]!.GetValue<string>() == name);
        var gone = await Assert.ThrowsAsync<k8s.Autorest.HttpOperationException>(() =>
            Kubernetes().CustomObjects.GetNamespacedCustomObjectAsync("serving.kserve.io", "v1beta1", "tenant-a", "inferenceservices", name));
        Assert.Equal(HttpStatusCode.NotFound, gone.Response.StatusCode);
    }

    public static TheoryData<string, string> InvalidBodies => new()
    {
        { "{\"framework\":\"sklearn\",\"storageUri\":\"s3://b/m\"}", "name" },
        { "{\"name\":\"Bad_Name\",\"framework\":\"sklearn\",\"storageUri\":\"s3://b/m\"}", "name" },
        { "{\"name\":\"-x\",\"framework\":\"sklearn\",\"storageUri\":\"s3://b/m\"}", "name" },
        { "{\"name\":\"" + new string('a', 46) + "\",\"framework\":\"sklearn\",\"storageUri\":\"s3://b/m\"}", "name" },
        { "{\"name\":\"ok\",\"storageUri\":\"s3://b/m\"}", "framework" },
        { "{\"name\":\"ok\",\"framework\":\"cobol\",\"storageUri\":\"s3://b/m\"}", "framework" },
        { "{\"name\":\"ok\",\"framework\":\"sklearn\"}", "storageUri" },
        { "{\"name\":\"ok\",\"framework\":\"sklearn\",\"storageUri\":\"file:///etc/passwd\"}", "storageUri" },
        { "{\"name\":\"ok\",\"framework\":\"sklearn\",\"storageUri\":\"s3://b/m x\"}", "storageUri" },
        { "{\"name\":\"ok\",\"framework\":\"sklearn\",\"storageUri\":\"s3://b/m\",\"minReplicas\":-1}", "minReplicas" },
        { "{\"name\":\"ok\",\"framework\":\"sklearn\",\"storageUri\":\"s3://b/m\",\"maxReplicas\":0}", "maxReplicas" },
        { "{\"name\":\"ok\",\"framework\":\"sklearn\",\"storageUri\":\"s3://b/m\",\"maxReplicas\":1000}", "maxReplicas" },
        { "{\"name\":\"ok\",\"framework\":\"sklearn\",\"storageUri\":\"s3://b/m\",\"minReplicas\":5,\"maxReplicas\":2}", "minReplicas" },
        { "{\"name\":\"ok\",\"framework\":\"sklearn\",\"storageUri\":\"s3://b/m\",\"scaleTarget\":0}", "scaleTarget" },
        { "{\"name\":\"ok\",\"framework\":\"sklearn\",\"storageUri\":\"s3://b/m\",\"scaleMetric\":\"vibes\"}", "scaleMetric" },
        { "{\"name\":\"ok\",\"framework\":\"sklearn\",\"storageUri\":\"s3://b/m\",\"minReplicas\":\"two\"}", "minReplicas" },
        { "{\"name\":\"ok\",\"framework\":\"sklearn\",", "Malformed" },
        { "not json", "Malformed" },
        { "null", "JSON object" },
    };

    [Theory]
    [MemberData(nameof(InvalidBodies))]
    public async Task Invalid_create_requests_get_400_and_create_nothing(string body, string mentions)
    {
        var tenant = api.Tenant("tenant-c");
        var response = await tenant.PostRaw("/api/models", body);
        var error = await response.AssertError(HttpStatusCode.BadRequest, mentions);
        Assert.Equal("Invalid request format", error["error"]!.GetValue<string>());
        var list = await (await tenant.GetAsync("/api/models")).AssertOk();
        Assert.DoesNotContain(list["models"]!.AsArray(), m => m!["name"]!.GetValue<string>() == "ok");
    }

    [Fact]
    public async Task Oversized_and_non_json_bodies_get_400()
    {
        var tenant = api.Tenant("tenant-c");
        var huge = "{\"name\":\"big\",\"framework\":\"sklearn\",\"storageUri\":\"s3://" + new string('a', 200_000) + "\"}";
        await (await tenant.PostRaw("/api/models", huge)).AssertError(HttpStatusCode.BadRequest, "exceeds");
        await (await tenant.PostRaw("/api/models", "name=x", "application/x-www-form-urlencoded")).AssertError(HttpStatusCode.BadRequest, "Content-Type");
    }

    [Fact]
    public async Task Duplicate_create_gets_409_and_keeps_the_first()
    {
        var tenant = api.Tenant("tenant-a");
        var name = NewName();
        await (await tenant.PostJson("/api/models", Model(name))).AssertOk(HttpStatusCode.Created);
        var again = new { name, framework = "xgboost", storageUri = "s3://other/model" };
        await (await tenant.PostJson("/api/models", again)).AssertError(HttpStatusCode.Conflict, "already exists");
        var model = await (await tenant.GetAsync($"/api/models/{name}")).AssertOk();
        Assert.Equal("sklearn", model["predictor"]!["framework"]!.GetValue<string>());
        await (await tenant.DeleteAsync($"/api/models/{name}")).AssertOk();
    }

    [Fact]
    public async Task Missing_models_get_404_on_every_verb()
    {
        var tenant = api.Tenant("tenant-a");
        await (await tenant.GetAsync("/api/models/nope")).AssertError(HttpStatusCode.NotFound, "Model not found");
        await (await tenant.PutJson("/api/models/nope", new { minReplicas = 1 })).AssertError(HttpStatusCode.NotFound);
        await (await tenant.DeleteAsync("/api/models/nope")).AssertError(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Invalid_updates_get_400_and_change_nothing()
    {
        var tenant = api.Tenant("tenant-b");
        var name = NewName();
        await (await tenant.PostJson("/api/models", Model(name))).AssertOk(HttpStatusCode.Created);
        await (await tenant.PutJson($"/api/models/{name}", new { })).AssertError(HttpStatusCode.BadRequest, "Nothing to update");
        await (await tenant.PutJson($"/api/models/{name}", new { minReplicas = 9 })).AssertError(HttpStatusCode.BadRequest, "maxReplicas");
        await (await tenant.PutJson($"/api/models/{name}", new { scaleMetric = "gpu" })).AssertError(HttpStatusCode.BadRequest, "scaleMetric");
        await (await tenant.PutJson($"/api/models/{name}", new { framework = "nope" })).AssertError(HttpStatusCode.BadRequest, "framework");
        var model = await (await tenant.GetAsync($"/api/models/{name}")).AssertOk();
        Assert.Equal(1, model["predictor"]!["minReplicas"]!.GetValue<int>());
        Assert.Equal("concurrency", model["predictor"]!["scaleMetric"]!.GetValue<string>());
        await (await tenant.GetAsync("/api/models/Not_A_Name")).AssertError(HttpStatusCode.BadRequest, "name");
        await (await tenant.DeleteAsync($"/api/models/{name}")).AssertOk();
    }

    [Fact]
    public async Task Tenants_are_isolated_and_the_same_name_never_collides()
    {
        var a = api.Tenant("tenant-a");
        var b = api.Tenant("tenant-b");
        var name = NewName();
        await (await a.PostJson("/api/models", Model(name))).AssertOk(HttpStatusCode.Created);

        // tenant-b cannot see, change or delete tenant-a's model, nor reach into tenant-a by naming it.
        await (await b.GetAsync($"/api/models/{name}")).AssertError(HttpStatusCode.NotFound);
        await (await b.PutJson($"/api/models/{name}", new { minReplicas = 0 })).AssertError(HttpStatusCode.NotFound);
        await (await b.DeleteAsync($"/api/models/{name}")).AssertError(HttpStatusCode.NotFound);
        await (await b.GetAsync($"/api/models/{name}?namespace=tenant-a")).AssertError(HttpStatusCode.Forbidden, "tenant-a");
        await (await b.GetAsync("/api/models?namespace=tenant-a")).AssertError(HttpStatusCode.Forbidden, "tenant-a");
        await (await b.PutJson($"/api/models/{name}?namespace=tenant-a", new { minReplicas = 0 })).AssertError(HttpStatusCode.Forbidden);
        await (await b.DeleteAsync($"/api/models/{name}?namespace=tenant-a")).AssertError(HttpStatusCode.Forbidden);
        await (await b.PostJson("/api/models", Model(NewName(), "tenant-a"))).AssertError(HttpStatusCode.Forbidden, "tenant-a");
        var bList = await (await b.GetAsync("/api/models")).AssertOk();
        Assert.DoesNotContain(bList["models"]!.AsArray(), m => m!["namespace"]!.GetValue<string>() != "tenant-b");

        // The same name in tenant-b is a different model.
        await (await b.PostJson("/api/models", new { name, framework = "xgboost", storageUri = "s3://b/model" })).AssertOk(HttpStatusCode.Created);
        Assert.Equal("sklearn", (await (await a.GetAsync($"/api/models/{name}")).Json())["predictor"]!["framework"]!.GetValue<string>());
        Assert.Equal("xgboost", (await (await b.GetAsync($"/api/models/{name}")).Json())["predictor"]!["framework"]!.GetValue<string>());

        // The model survives tenant-b's attempts, and tenant-a still owns it.
        var mine = await (await a.GetAsync($"/api/models/{name}")).AssertOk();
        Assert.Equal(1, mine["predictor"]!["minReplicas"]!.GetValue<int>());
        await (await a.DeleteAsync($"/api/models/{name}")).AssertOk();
        await (await b.GetAsync($"/api/models/{name}")).AssertOk();
        await (await b.DeleteAsync($"/api/models/{name}")).AssertOk();
    }

    [Fact]
    public async Task Admins_cross_tenants_with_a_namespace()
    {
        var admin = api.Admin();
        var name = NewName();
        await (await admin.PostJson("/api/models", Model(name))).AssertError(HttpStatusCode.BadRequest, "namespace");
        await (await admin.PostJson("/api/models", Model(name, "tenant-c"))).AssertOk(HttpStatusCode.Created);
        await (await admin.PostJson("/api/models", Model(name, "Bad Namespace"))).AssertError(HttpStatusCode.BadRequest, "namespace");

        var all = await (await admin.GetAsync("/api/models")).AssertOk();
        Assert.Contains(all["models"]!.AsArray(), m => m!["name"]!.GetValue<string>() == name && m["namespace"]!.GetValue<string>() == "tenant-c");
        var scoped = await (await admin.GetAsync("/api/models?namespace=tenant-a")).AssertOk();
        Assert.DoesNotContain(scoped["models"]!.AsArray(), m => m!["namespace"]!.GetValue<string>() != "tenant-a");

        // Without a namespace an admin addresses the one tenant holding that name.
        await (await admin.GetAsync($"/api/models/{name}")).AssertOk();
        await (await admin.PutJson($"/api/models/{name}?namespace=tenant-c", new { maxReplicas = 4 })).AssertOk();
        Assert.Equal(4, (await (await api.Tenant("tenant-c").GetAsync($"/api/models/{name}")).Json())["predictor"]!["maxReplicas"]!.GetValue<int>());
        await (await admin.DeleteAsync($"/api/models/{name}?namespace=tenant-c")).AssertOk();
        await (await admin.GetAsync($"/api/models/{name}")).AssertError(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Models_created_or_deleted_outside_the_service_are_adopted_or_dropped_by_the_watch()
    {
        var name = NewName();
        var isvc = new JsonObject
        {
            ["apiVersion"] = "serving.kserve.io/v1beta1",
            ["kind"] = "InferenceService",
            ["metadata"] = new JsonObject
            {
                ["name"] = name,
                ["namespace"] = "tenant-b",
                ["labels"] = new JsonObject { ["app.kubernetes.io/managed-by"] = "inference-management", ["inference-in-a-box.io/tenant"] = "tenant-b" },
            },
            ["spec"] = new JsonObject { ["predictor"] = new JsonObject { ["model"] = new JsonObject { ["modelFormat"] = new JsonObject { ["name"] = "onnx" }, ["storageUri"] = "s3://x/y" } } },
        };
        var k8s = Kubernetes();
        await k8s.CustomObjects.CreateNamespacedCustomObjectAsync(isvc, "serving.kserve.io", "v1beta1", "tenant-b", "inferenceservices");
        var tenant = api.Tenant("tenant-b");
        var adopted = await WaitReady(tenant, name);
        Assert.Equal("onnx", adopted["predictor"]!["framework"]!.GetValue<string>());

        await k8s.CustomObjects.DeleteNamespacedCustomObjectAsync("serving.kserve.io", "v1beta1", "tenant-b", "inferenceservices", name);
        await TestEnvironment.Eventually(async () => (await tenant.GetAsync($"/api/models/{name}")).StatusCode,
            s => s == HttpStatusCode.NotFound, what: "the deleted model to disappear");
    }
}
