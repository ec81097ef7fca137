using System.Net;
using System.Text.Json.Nodes;
using Inference.TestSupport;
using k8s;
using k8s.Models;

namespace Inference.Api.Tests;

[Collection(ApiCollection.Name)]
public sealed class PredictTests(ApiFixture api)
{
    private const string FaultStatus = "emulator.inference-in-a-box.io/predict-status";
    private const string FaultDelay = "emulator.inference-in-a-box.io/predict-delay-ms";

    private static readonly object Input = new { inputData = new { instances = new[] { new { feature1 = 1.0, feature2 = 2.0 } } } };

    private static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 9)];

    private async Task<string> ReadyModel(string tenant)
    {
        var name = Unique("pm");
        var client = api.Tenant(tenant);
        await (await client.PostJson("/api/models", new { name, framework = "sklearn", storageUri = "gs://kfserving-examples/models/sklearn/1.0/model" }))
            .AssertOk(HttpStatusCode.Created);
        await TestEnvironment.Eventually(async () => await (await client.GetAsync($"/api/models/{name}")).Json(),
            m => m["ready"]?.GetValue<bool>() == true, what: $"model {name} to become Ready");
        return name;
    }

    private k8s.Kubernetes Kube() => new(KubernetesClientConfiguration.BuildConfigFromConfigFile(api.Emulator.KubeconfigPath));

    private Task Annotate(string tenant, string name, string key, string value) =>
        Kube().PatchNamespacedCustomObjectAsync(
            new V1Patch(new JsonObject { ["metadata"] = new JsonObject { ["annotations"] = new JsonObject { [key] = value } } }.ToJsonString(), V1Patch.PatchType.MergePatch),
            "serving.kserve.io", "v1beta1", tenant, "inferenceservices", name);

    [Fact]
    public async Task A_ready_model_answers_through_the_proxy_as_is()
    {
        var name = await ReadyModel("tenant-a");
        var response = await api.Tenant("tenant-a").PostJson($"/api/models/{name}/predict", Input);
        var body = await response.AssertOk();
        Assert.Equal("application/json", response.Content.Headers.ContentType!.MediaType);
        var predictions = body["predictions"]!.AsArray();
        Assert.Single(predictions);

        // The admin reaches it by namespace; "useCustom": false is the same as leaving it out.
        var admin = await api.Admin().PostJson($"/api/models/{name}/predict?namespace=tenant-a",
            new { inputData = new { instances = new[] { new { feature1 = 1.0, feature2 = 2.0 } } }, connectionSettings = new { useCustom = false } });
        Assert.Equal(body.ToJsonString(), (await admin.AssertOk()).ToJsonString());
    }

    [Fact]
    public async Task Unknown_other_tenant_and_not_ready_models_are_refused_clearly()
    {
        await (await api.Tenant("tenant-a").PostJson("/api/models/no-such-model/predict", Input)).AssertError(HttpStatusCode.NotFound, "Model not found");
        await (await api.Client().PostJson("/api/models/anything/predict", Input)).AssertError(HttpStatusCode.Unauthorized);
        await (await api.Tenant("tenant-a").PostJson("/api/models/Bad_Name/predict", Input)).AssertError(HttpStatusCode.BadRequest);

        var name = await ReadyModel("tenant-a");
        await (await api.Tenant("tenant-b").PostJson($"/api/models/{name}/predict?namespace=tenant-a", Input)).AssertError(HttpStatusCode.Forbidden, "tenant-a");
        await (await api.Tenant("tenant-b").PostJson($"/api/models/{name}/predict", Input)).AssertError(HttpStatusCode.NotFound);
        await (await api.Tenant("tenant-a").PostJson($"/api/models/{name}/predict", new { })).AssertError(HttpStatusCode.BadRequest, "inputData");
        await (await api.Tenant("tenant-a").PostJson($"/api/models/{name}/predict", new { inputData = new[] { 1, 2 } })).AssertError(HttpStatusCode.BadRequest, "inputData");
        await (await api.Tenant("tenant-a").PostRaw($"/api/models/{name}/predict", "{\"inputData\":")).AssertError(HttpStatusCode.BadRequest);

        // Kubernetes reports the model no longer Ready (as during a rollout): 409 until it is back.
        await Kube().PatchNamespacedCustomObjectStatusAsync(
            new V1Patch("""{"status":{"conditions":[{"type":"Ready","status":"False","reason":"RevisionMissing","message":"rolling out"}]}}""", V1Patch.PatchType.MergePatch),
            "serving.kserve.io", "v1beta1", "tenant-a", "inferenceservices", name);
        await TestEnvironment.Eventually(async () => await (await api.Tenant("tenant-a").GetAsync($"/api/models/{name}")).Json(),
            m => m["ready"]?.GetValue<bool>() == false, what: "the model to be seen as not ready");
        await (await api.Tenant("tenant-a").PostJson($"/api/models/{name}/predict", Input)).AssertError(HttpStatusCode.Conflict, "not ready");
    }

    [Fact]
    public async Task An_upstream_error_is_a_502_with_its_status_and_body()
    {
        var name = await ReadyModel("tenant-a");
        await Annotate("tenant-a", name, FaultStatus, "500");
        var error = await (await api.Tenant("tenant-a").PostJson($"/api/models/{name}/predict", Input)).AssertError(HttpStatusCode.BadGateway);
        var details = error["details"]!.GetValue<string>();
        Assert.Contains("Upstream status 500", details);
        Assert.Contains("injected by annotation", details);
    }

    [Fact]
    public async Task A_model_slower_than_the_timeout_is_a_504()
    {
        var name = await ReadyModel("tenant-a");
        await Annotate("tenant-a", name, FaultDelay, "60000"); // the fixture's timeout is 5 s
        await (await api.Tenant("tenant-a").PostJson($"/api/models/{name}/predict", Input)).AssertError(HttpStatusCode.GatewayTimeout, "timed out");
    }

    [Fact]
    public async Task Custom_connection_settings_are_for_admins_only_and_validated()
    {
        var name = await ReadyModel("tenant-a");
        var emulator = new Uri(api.Emulator.BaseAddress);
        object Custom(object settings) => new { inputData = new { instances = new[] { new { feature1 = 3.0 } } }, connectionSettings = settings };
        var good = new
        {
            useCustom = true, host = emulator.Host, port = emulator.Port, protocol = "http",
            path = $"/serving/tenant-a/{name}/v1/models/{name}:predict", headers = new Dictionary<string, string> { ["X-Trace"] = "t1" },
        };

        await (await api.Tenant("tenant-a").PostJson($"/api/models/{name}/predict", Custom(good))).AssertError(HttpStatusCode.Forbidden, "admins only");

        var answer = await (await api.Admin().PostJson($"/api/models/{name}/predict?namespace=tenant-a", Custom(good))).AssertOk();
        Assert.Single(answer["predictions"]!.AsArray());

        foreach (var (bad, complaint) in new (object, string)[]
        {
            (new { useCustom = true, host = "", port = 80 }, "host"),
            (new { useCustom = true, host = "bad host!", port = 80 }, "host"),
            (new { useCustom = true, host = "example.com", port = 70000 }, "port"),
            (new { useCustom = true, host = "example.com", protocol = "ftp" }, "protocol"),
            (new { useCustom = true, host = "example.com", path = "no-slash" }, "path"),
            (new { useCustom = true, host = "example.com", path = "//evil.example/x" }, "path"),
            (new { useCustom = true, host = "example.com", headers = new Dictionary<string, string> { ["Host"] = "x" } }, "Host"),
            (new { useCustom = true, host = "example.com", headers = new Dictionary<string, string> { ["X-A"] = "a\r\nb" } }, "X-A"),
        })
        {
            await (await api.Admin().PostJson($"/api/models/{name}/predict?namespace=tenant-a", Custom(bad))).AssertError(HttpStatusCode.BadRequest, complaint);
        }

        // An unreachable custom target is a 502, not a hang or a 500.
        var closed = new { useCustom = true, host = "127.0.0.1", port = TestEnvironment.FreePort() };
        await (await api.Admin().PostJson($"/api/models/{name}/predict?namespace=tenant-a", Custom(closed))).AssertError(HttpStatusCode.BadGateway, "unreachable");
    }
}
