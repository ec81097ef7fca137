using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using static KubeEmulator.Tests.EmulatorFixture;

namespace KubeEmulator.Tests;

public sealed class ApiSemanticsTests(EmulatorFixture emulator) : IClassFixture<EmulatorFixture>
{
    private const string Conflict =
        "Operation cannot be fulfilled on inferenceservices.serving.kserve.io \"m\": the object has been modified; please apply your changes to the latest version and try again";

    private Task<JsonObject> ReplaceAsync(string ns, JsonObject body) =>
        emulator.Client.CustomObjects.ReplaceNamespacedCustomObjectAsync<JsonObject>(body, Group, IsvcVersion, ns, Plural, body["metadata"]!["name"]!.GetValue<string>());

    private Task<JsonObject> PatchAsync(string ns, string name, object patch, V1Patch.PatchType type, bool status = false) => status
        ? emulator.Client.CustomObjects.PatchNamespacedCustomObjectStatusAsync<JsonObject>(new V1Patch(patch, type), Group, IsvcVersion, ns, Plural, name)
        : emulator.Client.CustomObjects.PatchNamespacedCustomObjectAsync<JsonObject>(new V1Patch(patch, type), Group, IsvcVersion, ns, Plural, name);

    [Fact]
    public async Task Stale_resourceVersion_on_replace_is_409_conflict()
    {
        var ns = await emulator.NewNamespaceAsync();
        await emulator.CreateIsvcAsync(ns, Isvc("m"));
        // Metadata-only edits below do not wake the simulated controller, so only this test writes from here on.
        var v1 = await emulator.SettledIsvcAsync(ns, "m");
        var v2 = (JsonObject)v1.DeepClone();
        v2["metadata"]!["labels"] = new JsonObject { ["edit"] = "first" };
        await ReplaceAsync(ns, v2);

        v1["metadata"]!["labels"] = new JsonObject { ["edit"] = "second" };
        var (code, status) = await FailsAsync(() => ReplaceAsync(ns, v1));

        Assert.Equal(409, code);
        Assert.Equal("Conflict", status["reason"]!.GetValue<string>());
        Assert.Equal(Conflict, status["message"]!.GetValue<string>());
        Assert.Equal("inferenceservices", status["details"]!["kind"]!.GetValue<string>());
    }

    [Fact]
    public async Task Replace_without_resourceVersion_is_422_for_custom_resources()
    {
        var ns = await emulator.NewNamespaceAsync();
        var created = await emulator.CreateIsvcAsync(ns, Isvc("m"));
        created["metadata"]!.AsObject().Remove("resourceVersion");

        var (code, status) = await FailsAsync(() => ReplaceAsync(ns, created));

        Assert.Equal(422, code);
        Assert.Equal(
            "InferenceService.serving.kserve.io \"m\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update",
            status["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Replace_of_missing_custom_resource_is_404()
    {
        var ns = await emulator.NewNamespaceAsync();
        var body = Isvc("m");
        body["metadata"]!["resourceVersion"] = "1";

        var (code, _) = await FailsAsync(() => ReplaceAsync(ns, body));

        Assert.Equal(404, code);
    }

    [Fact]
    public async Task Create_twice_is_409_already_exists()
    {
        var ns = await emulator.NewNamespaceAsync();
        await emulator.CreateIsvcAsync(ns, Isvc("m"));

        var (code, status) = await FailsAsync(() => emulator.CreateIsvcAsync(ns, Isvc("m")));

        Assert.Equal(409, code);
        Assert.Equal("AlreadyExists", status["reason"]!.GetValue<string>());
        Assert.Equal("inferenceservices.serving.kserve.io \"m\" already exists", status["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Get_missing_is_404_with_status_body()
    {
        var ns = await emulator.NewNamespaceAsync();

        var (code, status) = await FailsAsync(() => emulator.GetIsvcAsync(ns, "nope"));

        Assert.Equal(404, code);
        Assert.Equal("Status", status["kind"]!.GetValue<string>());
        Assert.Equal("Failure", status["status"]!.GetValue<string>());
        Assert.Equal("NotFound", status["reason"]!.GetValue<string>());
        Assert.Equal("inferenceservices.serving.kserve.io \"nope\" not found", status["message"]!.GetValue<string>());
        Assert.Equal("nope", status["details"]!["name"]!.GetValue<string>());
        Assert.Equal("serving.kserve.io", status["details"]!["group"]!.GetValue<string>());
        Assert.Equal("inferenceservices", status["details"]!["kind"]!.GetValue<string>());
        Assert.Equal(404, status["code"]!.GetValue<int>());
    }

    [Fact]
    public async Task Generation_bumps_on_spec_changes_only()
    {
        var ns = await emulator.NewNamespaceAsync();
        var created = await emulator.CreateIsvcAsync(ns, Isvc("m"));
        Assert.Equal(1, created["metadata"]!["generation"]!.GetValue<long>());

        var labelled = await PatchAsync(ns, "m", new { metadata = new { labels = new { team = "x" } } }, V1Patch.PatchType.MergePatch);
        Assert.Equal(1, labelled["metadata"]!["generation"]!.GetValue<long>());
        Assert.NotEqual(created["metadata"]!["resourceVersion"]!.GetValue<string>(), labelled["metadata"]!["resourceVersion"]!.GetValue<string>());

        var scaled = await PatchAsync(ns, "m", new { spec = new { predictor = new { minReplicas = 2 } } }, V1Patch.PatchType.MergePatch);
        Assert.Equal(2, scaled["metadata"]!["generation"]!.GetValue<long>());
    }

    [Fact]
    public async Task Status_subresource_separates_spec_and_status_writes()
    {
        var ns = await emulator.NewNamespaceAsync();
        await emulator.CreateIsvcAsync(ns, Isvc("m"));
        var current = await emulator.SettledIsvcAsync(ns, "m");

        // Main resource: status changes are ignored, other changes apply.
        var main = (JsonObject)current.DeepClone();
        main["status"]!["url"] = "http://ignored";
        main["metadata"]!["labels"] = new JsonObject { ["edited"] = "main" };
        var afterMain = await ReplaceAsync(ns, main);
        Assert.Equal(current["status"]!["url"]!.GetValue<string>(), afterMain["status"]!["url"]!.GetValue<string>());
        Assert.Equal("main", afterMain["metadata"]!["labels"]!["edited"]!.GetValue<string>());

        // Status subresource: only status changes apply, and generation does not move.
        var statusWrite = (JsonObject)afterMain.DeepClone();
        statusWrite["status"]!["url"] = "http://set-through-status";
        statusWrite["spec"]!["predictor"]!["minReplicas"] = 5;
        statusWrite["metadata"]!["labels"] = new JsonObject { ["edited"] = "status" };
        var afterStatus = await emulator.Client.CustomObjects.ReplaceNamespacedCustomObjectStatusAsync<JsonObject>(statusWrite, Group, IsvcVersion, ns, Plural, "m");
        Assert.Equal("http://set-through-status", afterStatus["status"]!["url"]!.GetValue<string>());
        Assert.Null(afterStatus["spec"]!["predictor"]!["minReplicas"]);
        Assert.Equal("main", afterStatus["metadata"]!["labels"]!["edited"]!.GetValue<string>());
        Assert.Equal(current["metadata"]!["generation"]!.GetValue<long>(), afterStatus["metadata"]!["generation"]!.GetValue<long>());
    }

    [Fact]
    public async Task Merge_patch_and_json_patch_apply()
    {
        var ns = await emulator.NewNamespaceAsync();
        await emulator.CreateIsvcAsync(ns, Isvc("m", labels: new JsonObject { ["a"] = "1", ["b"] = "2" }));

        var merged = await PatchAsync(ns, "m", new { metadata = new { labels = new Dictionary<string, string?> { ["a"] = null, ["c"] = "3" } } }, V1Patch.PatchType.MergePatch);
        Assert.Null(merged["metadata"]!["labels"]!["a"]);
        Assert.Equal("3", merged["metadata"]!["labels"]!["c"]!.GetValue<string>());

        var ops = new object[]
        {
            new { op = "replace", path = "/spec/predictor/sklearn/storageUri", value = "s3://bucket/model" },
            new { op = "add", path = "/spec/predictor/maxReplicas", value = 4 },
            new { op = "remove", path = "/metadata/labels/b" },
        };
        var patched = await PatchAsync(ns, "m", ops, V1Patch.PatchType.JsonPatch);
        Assert.Equal("s3://bucket/model", patched["spec"]!["predictor"]!["sklearn"]!["storageUri"]!.GetValue<string>());
        Assert.Equal(4, patched["spec"]!["predictor"]!["maxReplicas"]!.GetValue<int>());
        Assert.Null(patched["metadata"]!["labels"]!["b"]);
    }

    [Fact]
    public async Task Patch_with_stale_resourceVersion_is_a_failed_precondition()
    {
        var ns = await emulator.NewNamespaceAsync();
        var created = await emulator.CreateIsvcAsync(ns, Isvc("m"));
        await PatchAsync(ns, "m", new { metadata = new { labels = new { x = "1" } } }, V1Patch.PatchType.MergePatch);

        var stale = created["metadata"]!["resourceVersion"]!.GetValue<string>();
        var (code, status) = await FailsAsync(() =>
            PatchAsync(ns, "m", new { metadata = new { resourceVersion = stale, labels = new { x = "2" } } }, V1Patch.PatchType.MergePatch));

        Assert.Equal(409, code);
        Assert.Equal(Conflict, status["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Strategic_merge_patch_on_custom_resource_is_415()
    {
        var ns = await emulator.NewNamespaceAsync();
        await emulator.CreateIsvcAsync(ns, Isvc("m"));

        var (code, status) = await FailsAsync(() => PatchAsync(ns, "m", new { metadata = new { labels = new { x = "1" } } }, V1Patch.PatchType.StrategicMergePatch));

        Assert.Equal(415, code);
        Assert.Equal("UnsupportedMediaType", status["reason"]!.GetValue<string>());
        Assert.Contains("application/merge-patch+json", status["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Strategic_merge_patch_on_built_in_kinds_is_accepted()
    {
        var ns = await emulator.NewNamespaceAsync();
        await emulator.Client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new() { Name = "cm" }, Data = new Dictionary<string, string> { ["a"] = "1" } }, ns);

        var patched = await emulator.Client.CoreV1.PatchNamespacedConfigMapAsync(
            new V1Patch(new { data = new { b = "2" } }, V1Patch.PatchType.StrategicMergePatch), "cm", ns);

        Assert.Equal("1", patched.Data["a"]);
        Assert.Equal("2", patched.Data["b"]);
    }

    [Fact]
    public async Task Dry_run_does_not_persist()
    {
        var ns = await emulator.NewNamespaceAsync();

        await emulator.Client.CustomObjects.CreateNamespacedCustomObjectAsync<JsonObject>(Isvc("dry"), Group, IsvcVersion, ns, Plural, dryRun: "All");

        var (code, _) = await FailsAsync(() => emulator.GetIsvcAsync(ns, "dry"));
        Assert.Equal(404, code);
    }

    [Fact]
    public async Task Generate_name_creates_unique_names()
    {
        var ns = await emulator.NewNamespaceAsync();
        var body = Isvc("");
        body["metadata"]!.AsObject().Remove("name");
        body["metadata"]!["generateName"] = "gen-";

        var a = await emulator.CreateIsvcAsync(ns, (JsonObject)body.DeepClone());
        var b = await emulator.CreateIsvcAsync(ns, (JsonObject)body.DeepClone());

        Assert.StartsWith("gen-", a["metadata"]!["name"]!.GetValue<string>());
        Assert.NotEqual(a["metadata"]!["name"]!.GetValue<string>(), b["metadata"]!["name"]!.GetValue<string>());
    }

    [Fact]
    public async Task Finalizers_delay_deletion_until_removed()
    {
        var ns = await emulator.NewNamespaceAsync();
        var body = Isvc("fin");
        body["metadata"]!["finalizers"] = new JsonArray("example.com/cleanup");
        await emulator.CreateIsvcAsync(ns, body);

        await emulator.Client.CustomObjects.DeleteNamespacedCustomObjectAsync(Group, IsvcVersion, ns, Plural, "fin");
        var terminating = await emulator.GetIsvcAsync(ns, "fin");
        Assert.NotNull(terminating["metadata"]!["deletionTimestamp"]);

        await PatchAsync(ns, "fin", new { metadata = new { finalizers = Array.Empty<string>() } }, V1Patch.PatchType.MergePatch);
        var (code, _) = await FailsAsync(() => emulator.GetIsvcAsync(ns, "fin"));
        Assert.Equal(404, code);
    }

    [Fact]
    public async Task Deployments_require_a_selector()
    {
        var ns = await emulator.NewNamespaceAsync();
        var deployment = new V1Deployment
        {
            Metadata = new() { Name = "d" },
            Spec = new V1DeploymentSpec
            {
                Template = new V1PodTemplateSpec { Spec = new V1PodSpec { Containers = [new V1Container { Name = "c", Image = "nginx" }] } },
            },
        };

        var (code, status) = await FailsAsync(() => emulator.Client.AppsV1.CreateNamespacedDeploymentAsync(deployment, ns));

        Assert.Equal(422, code);
        Assert.Equal("Deployment.apps \"d\" is invalid: spec.selector: Required value", status["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Unknown_paths_and_methods_answer_with_status_bodies()
    {
        var notFound = await emulator.Http.GetAsync($"{emulator.BaseAddress}/apis/example.com/v1/widgets");
        Assert.Equal(HttpStatusCode.NotFound, notFound.StatusCode);
        Assert.Equal("Status", JsonNode.Parse(await notFound.Content.ReadAsStringAsync())!["kind"]!.GetValue<string>());

        var ns = await emulator.NewNamespaceAsync();
        var post = await emulator.Http.PostAsync($"{emulator.BaseAddress}/apis/{Group}/{IsvcVersion}/namespaces/{ns}/{Plural}/x",
            new StringContent("{}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);
    }

    [Fact]
    public async Task Seeded_cluster_has_tenant_namespaces_and_nodes()
    {
        var tenants = await emulator.Client.CoreV1.ListNamespaceAsync(labelSelector: "inference-in-a-box.io/tenant=true");
        Assert.Equal(["tenant-a", "tenant-b", "tenant-c"], tenants.Items.Select(n => n.Metadata.Name).Order().ToArray());
        Assert.All(tenants.Items, n => Assert.Equal("Active", n.Status.Phase));
        Assert.All(tenants.Items, n => Assert.NotNull(n.Metadata.CreationTimestamp));

        var all = await emulator.Client.CoreV1.ListNamespaceAsync();
        Assert.Contains(all.Items, n => n.Metadata.Name == "kserve");
        Assert.Contains(all.Items, n => n.Metadata.Name == "envoy-gateway-system");

        var nodes = await emulator.Client.CoreV1.ListNodeAsync();
        Assert.Equal(2, nodes.Items.Count);
        Assert.All(nodes.Items, n => Assert.True(n.Status.Allocatable.ContainsKey("cpu")));
        Assert.All(nodes.Items, n => Assert.False(string.IsNullOrEmpty(n.Status.NodeInfo.KubeletVersion)));
    }

    [Fact]
    public async Task Kubeconfig_written_by_the_emulator_works_with_the_client()
    {
        var config = KubernetesClientConfiguration.BuildConfigFromConfigFile(emulator.KubeconfigPath);
        using var client = new Kubernetes(config);

        var version = await client.Version.GetCodeAsync();
        var ns = await client.CoreV1.ReadNamespaceAsync("default");

        Assert.Equal("1", version.Major);
        Assert.Equal("default", ns.Metadata.Name);
        Assert.Equal(emulator.BaseAddress, config.Host.TrimEnd('/'));
    }

    [Fact]
    public async Task Discovery_lists_groups_and_resources()
    {
        var groups = JsonNode.Parse(await emulator.Http.GetStringAsync($"{emulator.BaseAddress}/apis"))!;
        var names = groups["groups"]!.AsArray().Select(g => g!["name"]!.GetValue<string>()).ToList();
        Assert.Contains("serving.kserve.io", names);
        Assert.Contains("gateway.networking.k8s.io", names);
        Assert.Contains("aigateway.envoyproxy.io", names);

        var resources = JsonNode.Parse(await emulator.Http.GetStringAsync($"{emulator.BaseAddress}/apis/serving.kserve.io/v1beta1"))!;
        Assert.Contains(resources["resources"]!.AsArray(), r => r!["name"]!.GetValue<string>() == "inferenceservices/status");
    }
}
