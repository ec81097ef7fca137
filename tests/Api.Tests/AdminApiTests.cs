using System.Net;
using System.Text.Json.Nodes;
using Inference.TestSupport;

namespace Inference.Api.Tests;

[Collection(ApiCollection.Name)]
public sealed class AdminApiTests(ApiFixture api)
{
    public static TheoryData<string, string> AdminRoutes => new()
    {
        { "GET", "/api/admin/system" },
        { "GET", "/api/admin/tenants" },
        { "POST", "/api/admin/kubectl" },
        { "GET", "/api/admin/audit" },
    };

    private static HttpRequestMessage Request(string method, string path) => new(new HttpMethod(method), path)
    {
        Content = method == "POST" ? new StringContent("{\"command\":\"get pods\"}", System.Text.Encoding.UTF8, "application/json") : null,
    };

    [Theory]
    [MemberData(nameof(AdminRoutes))]
    public async Task Admin_routes_answer_401_without_a_token_and_403_to_tenant_users(string method, string path)
    {
        var anonymous = await (await api.Client().SendAsync(Request(method, path))).AssertError(HttpStatusCode.Unauthorized);
        Assert.Equal("Authentication required", anonymous["error"]!.GetValue<string>());
        var tenant = await (await api.Tenant("tenant-a").SendAsync(Request(method, path))).AssertError(HttpStatusCode.Forbidden);
        Assert.Equal("Insufficient permissions", tenant["error"]!.GetValue<string>());
        Assert.Equal("Admin access required", tenant["details"]!.GetValue<string>());
    }

    [Fact]
    public async Task System_shows_nodes_namespaces_deployments_and_the_orleans_cluster()
    {
        var name = "s" + Guid.NewGuid().ToString("N")[..8];
        await (await api.Tenant("tenant-c").PostJson("/api/models", new { name, framework = "sklearn", storageUri = "gs://bucket/model" }))
            .AssertOk(HttpStatusCode.Created);

        var system = await TestEnvironment.Eventually(
            async () => await (await api.Admin().GetAsync("/api/admin/system")).AssertOk(),
            s => s["deployments"]!.AsArray().Any(d => d!["name"]!.GetValue<string>() == $"{name}-predictor" && d["ready"]!.GetValue<int>() == 1),
            what: "the model's deployment to be ready");

        var node = system["nodes"]!.AsArray().Single(n => n!["name"]!.GetValue<string>() == "emulator-node-1")!;
        Assert.Equal("Ready", node["status"]!.GetValue<string>());
        Assert.StartsWith("v1.", node["version"]!.GetValue<string>());
        Assert.Equal("8", node["capacity"]!["cpu"]!.GetValue<string>());
        Assert.Equal("32Gi", node["capacity"]!["memory"]!.GetValue<string>());
        Assert.Equal("32Gi", node["allocatable"]!["memory"]!.GetValue<string>());
        Assert.Equal(2, system["nodes"]!.AsArray().Count);

        var ns = system["namespaces"]!.AsArray().Single(n => n!["name"]!.GetValue<string>() == "tenant-c")!;
        Assert.Equal("Active", ns["status"]!.GetValue<string>());
        Assert.True(DateTimeOffset.Parse(ns["created"]!.GetValue<string>()) <= DateTimeOffset.UtcNow);
        Assert.Contains(system["namespaces"]!.AsArray(), n => n!["name"]!.GetValue<string>() == "kube-system");

        var deployment = system["deployments"]!.AsArray().Single(d => d!["name"]!.GetValue<string>() == $"{name}-predictor")!;
        Assert.Equal("tenant-c", deployment["namespace"]!.GetValue<string>());
        Assert.Equal(1, deployment["replicas"]!.GetValue<int>());
        Assert.Equal(1, deployment["available"]!.GetValue<int>());

        var orleans = system["orleans"]!;
        var silo = orleans["silos"]!.AsArray().Single()!;
        Assert.Equal("Active", silo["status"]!.GetValue<string>());
        Assert.Contains("127.0.0.1", silo["address"]!.GetValue<string>());
        var activations = orleans["activations"]!.AsArray();
        Assert.Contains(activations, a => a!["grainType"]!.GetValue<string>().Contains("ModelGrain", StringComparison.Ordinal) && a["activations"]!.GetValue<int>() >= 1);
        Assert.Contains(activations, a => a!["grainType"]!.GetValue<string>().Contains("TenantGrain", StringComparison.Ordinal));
        Assert.Equal(activations.Sum(a => a!["activations"]!.GetValue<int>()), orleans["totalActivations"]!.GetValue<int>());

        await (await api.Tenant("tenant-c").DeleteAsync($"/api/models/{name}")).AssertOk();
    }

    [Fact]
    public async Task Tenants_are_the_labelled_namespaces_plus_namespaces_holding_models_with_their_counts()
    {
        var name = "t" + Guid.NewGuid().ToString("N")[..8];
        var admin = api.Admin();
        await (await admin.PostJson("/api/models", new { name, framework = "sklearn", storageUri = "gs://bucket/model", @namespace = "default" }))
            .AssertOk(HttpStatusCode.Created);
        var tenantC = api.Tenant("tenant-c");
        await api.ReadyModelAsync(tenantC, name: name);
        await tenantC.PublishAsync(name);

        var body = await (await admin.GetAsync("/api/admin/tenants")).AssertOk();
        var tenants = body["tenants"]!.AsArray();
        Assert.Equal(tenants.Count, body["total"]!.GetValue<int>());
        JsonNode Tenant(string n) => tenants.Single(t => t!["name"]!.GetValue<string>() == n)!;
        foreach (var labelled in new[] { "tenant-a", "tenant-b", "tenant-c" })
        {
            var t = Tenant(labelled);
            Assert.Equal("Active", t["status"]!.GetValue<string>());
            Assert.True(t["labelled"]!.GetValue<bool>());
            Assert.True(DateTimeOffset.Parse(t["created"]!.GetValue<string>()) <= DateTimeOffset.UtcNow);
            var published = (await (await admin.GetAsync($"/api/published-models?namespace={labelled}")).AssertOk())["total"]!.GetValue<int>();
            Assert.Equal(published, t["publications"]!.GetValue<int>());
        }
        Assert.True(Tenant("tenant-c")["publications"]!.GetValue<int>() >= 1);
        Assert.True(Tenant("tenant-c")["models"]!.GetValue<int>() >= 1);
        var unlabelled = Tenant("default");
        Assert.False(unlabelled["labelled"]!.GetValue<bool>());
        Assert.True(unlabelled["models"]!.GetValue<int>() >= 1);
        Assert.DoesNotContain(tenants, t => t!["name"]!.GetValue<string>() == "kube-system");

        var models = (await (await admin.GetAsync("/api/models?namespace=default")).AssertOk())["models"]!.AsArray().Count;
        Assert.Equal(models, Tenant("default")["models"]!.GetValue<int>());

        await (await admin.DeleteAsync($"/api/models/{name}?namespace=default")).AssertOk();
        await (await api.Tenant("tenant-c").DeleteAsync($"/api/models/{name}")).AssertOk();
    }
}
