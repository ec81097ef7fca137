using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using static KubeEmulator.Tests.EmulatorFixture;

namespace KubeEmulator.Tests;

public sealed class KServeControllerTests(EmulatorFixture emulator) : IClassFixture<EmulatorFixture>
{
    private static bool IsReady(JsonObject isvc) =>
        isvc["status"]?["conditions"] is JsonArray conditions
        && conditions.Any(c => c!["type"]!.GetValue<string>() == "Ready" && c["status"]!.GetValue<string>() == "True");

    private async Task<JsonObject> CreateReadyAsync(string ns, JsonObject body)
    {
        await emulator.CreateIsvcAsync(ns, body);
        return await EventuallyAsync(() => emulator.GetIsvcAsync(ns, body["metadata"]!["name"]!.GetValue<string>()), IsReady);
    }

    private Task<HttpResponseMessage> PostAsync(string url, string json) =>
        emulator.Http.PostAsync(url, new StringContent(json, Encoding.UTF8, "application/json"));

    [Fact]
    public async Task Inference_service_becomes_ready_with_urls_and_workloads()
    {
        var ns = await emulator.NewNamespaceAsync();
        var body = Isvc("iris");
        body["spec"]!["predictor"]!["minReplicas"] = 2;

        var isvc = await CreateReadyAsync(ns, body);

        var status = isvc["status"]!;
        Assert.Equal($"{emulator.BaseAddress}/serving/{ns}/iris", status["url"]!.GetValue<string>());
        Assert.Equal($"http://iris-predictor.{ns}.svc.cluster.local", status["address"]!["url"]!.GetValue<string>());
        Assert.Equal(1, status["observedGeneration"]!.GetValue<long>());
        Assert.NotNull(status["components"]!["predictor"]!["latestReadyRevision"]);
        Assert.Equal("Loaded", status["modelStatus"]!["states"]!["activeModelState"]!.GetValue<string>());
        foreach (var type in new[] { "PredictorReady", "IngressReady" })
            Assert.Contains(status["conditions"]!.AsArray(), c => c!["type"]!.GetValue<string>() == type && c["status"]!.GetValue<string>() == "True");

        var deployment = await emulator.Client.AppsV1.ReadNamespacedDeploymentAsync("iris-predictor", ns);
        Assert.Equal(2, deployment.Spec.Replicas);
        Assert.Equal(2, deployment.Status.ReadyReplicas);
        Assert.Equal("iris", deployment.Metadata.Labels["serving.kserve.io/inferenceservice"]);
        Assert.Equal(isvc["metadata"]!["uid"]!.GetValue<string>(), deployment.Metadata.OwnerReferences.Single().Uid);

        var pods = await emulator.Client.CoreV1.ListNamespacedPodAsync(ns, labelSelector: "serving.kserve.io/inferenceservice=iris");
        Assert.Equal(2, pods.Items.Count);
        Assert.All(pods.Items, p =>
        {
            Assert.Equal("Running", p.Status.Phase);
            Assert.StartsWith("iris-predictor-", p.Metadata.Name);
            Assert.Equal(["kserve-container", "queue-proxy"], p.Spec.Containers.Select(c => c.Name).ToArray());
            Assert.StartsWith("emulator-node-", p.Spec.NodeName);
        });

        var service = await emulator.Client.CoreV1.ReadNamespacedServiceAsync("iris-predictor", ns);
        Assert.False(string.IsNullOrEmpty(service.Spec.ClusterIP));
    }

    [Fact]
    public async Task Watch_sees_the_controller_status_updates()
    {
        var ns = await emulator.NewNamespaceAsync();
        var created = await emulator.CreateIsvcAsync(ns, Isvc("watched"));
        var rv = created["metadata"]!["resourceVersion"]!.GetValue<string>();

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var sawReady = false;
        await foreach (var (type, element) in emulator.Client.CustomObjects.WatchListNamespacedCustomObjectAsync(
            Group, IsvcVersion, ns, Plural, resourceVersion: rv, cancellationToken: cts.Token))
        {
            var obj = JsonNode.Parse(((System.Text.Json.JsonElement)element).GetRawText())!.AsObject();
            if (type == WatchEventType.Modified && IsReady(obj))
            {
                sawReady = true;
                break;
            }
        }
        Assert.True(sawReady);
    }

    [Fact]
    public async Task Scaling_changes_the_pod_count()
    {
        var ns = await emulator.NewNamespaceAsync();
        await CreateReadyAsync(ns, Isvc("scale"));

        await emulator.Client.CustomObjects.PatchNamespacedCustomObjectAsync(
            new V1Patch(new { spec = new { predictor = new { minReplicas = 3 } } }, V1Patch.PatchType.MergePatch), Group, IsvcVersion, ns, Plural, "scale");

        await EventuallyAsync(() => emulator.GetIsvcAsync(ns, "scale"), o => IsReady(o) && o["status"]!["observedGeneration"]!.GetValue<long>() == 2);
        var pods = await EventuallyAsync(() => emulator.Client.CoreV1.ListNamespacedPodAsync(ns, labelSelector: "serving.kserve.io/inferenceservice=scale"),
            p => p.Items.Count == 3 && p.Items.All(x => x.Status.Phase == "Running"));
        Assert.Equal(3, pods.Items.Count);
    }

    [Fact]
    public async Task Predict_answers_with_one_prediction_per_instance()
    {
        var ns = await emulator.NewNamespaceAsync();
        var isvc = await CreateReadyAsync(ns, Isvc("iris"));
        var url = isvc["status"]!["url"]!.GetValue<string>();

        var response = await PostAsync($"{url}/v1/models/iris:predict", """{"instances":[[6.8,2.8,4.8,1.4],[6.0,3.4,4.5,1.6],[5.1,3.5,1.4,0.2]]}""");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal([1, 1, 0], body["predictions"]!.AsArray().Select(p => p!.GetValue<int>()).ToArray());

        var again = JsonNode.Parse(await (await PostAsync($"{url}/v1/models/iris:predict", """{"instances":[[6.8,2.8,4.8,1.4]]}""")).Content.ReadAsStringAsync())!;
        Assert.Equal(1, again["predictions"]![0]!.GetValue<int>());

        var metadata = JsonNode.Parse(await emulator.Http.GetStringAsync($"{url}/v1/models/iris"))!;
        Assert.True(metadata["ready"]!.GetValue<bool>());
        Assert.Equal("iris", metadata["name"]!.GetValue<string>());

        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync($"{url}/v1/models/iris:predict", """{"inputs":[]}""")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await PostAsync($"{url}/v1/models/other:predict", """{"instances":[[1]]}""")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await PostAsync($"{emulator.BaseAddress}/serving/{ns}/missing/v1/models/missing:predict", """{"instances":[[1]]}""")).StatusCode);
    }

    [Fact]
    public async Task Predict_is_503_until_ready()
    {
        var ns = await emulator.NewNamespaceAsync();
        var body = Isvc("slow");
        await emulator.CreateIsvcAsync(ns, body);
        var isvc = await emulator.GetIsvcAsync(ns, "slow");

        if (!IsReady(isvc))
        {
            var response = await PostAsync($"{emulator.BaseAddress}/serving/{ns}/slow/v1/models/slow:predict", """{"instances":[[1,2]]}""");
            // The controller may have finished in between; either way the answer must be consistent with readiness.
            var readyNow = IsReady(await emulator.GetIsvcAsync(ns, "slow"));
            Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable || readyNow);
        }
        await EventuallyAsync(() => emulator.GetIsvcAsync(ns, "slow"), IsReady);
    }

    [Fact]
    public async Task Chat_completions_answer_in_openai_shape()
    {
        var ns = await emulator.NewNamespaceAsync();
        var predictor = new JsonObject
        {
            ["model"] = new JsonObject { ["modelFormat"] = new JsonObject { ["name"] = "huggingface" }, ["storageUri"] = "hf://org/llm" },
        };
        var isvc = await CreateReadyAsync(ns, Isvc("llm", predictor));
        var url = isvc["status"]!["url"]!.GetValue<string>();

        var response = await PostAsync($"{url}/v1/chat/completions", """{"model":"llm","messages":[{"role":"user","content":"hello there"}]}""");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal("chat.completion", body["object"]!.GetValue<string>());
        Assert.Equal("assistant", body["choices"]![0]!["message"]!["role"]!.GetValue<string>());
        Assert.Contains("hello there", body["choices"]![0]!["message"]!["content"]!.GetValue<string>());
        Assert.True(body["usage"]!["total_tokens"]!.GetValue<int>() > 0);
    }

    [Fact]
    public async Task Fault_injection_annotations_change_the_answer()
    {
        var ns = await emulator.NewNamespaceAsync();
        var body = Isvc("faulty");
        body["metadata"]!["annotations"] = new JsonObject
        {
            ["emulator.inference-in-a-box.io/predict-status"] = "500",
            ["emulator.inference-in-a-box.io/predict-delay-ms"] = "200",
        };
        var isvc = await CreateReadyAsync(ns, body);
        var url = isvc["status"]!["url"]!.GetValue<string>();

        var failing = await PostAsync($"{url}/v1/models/faulty:predict", """{"instances":[[1,2,3,4]]}""");
        Assert.Equal(HttpStatusCode.InternalServerError, failing.StatusCode);
        Assert.Contains("error", await failing.Content.ReadAsStringAsync());

        await emulator.Client.CustomObjects.PatchNamespacedCustomObjectAsync(
            new V1Patch(new { metadata = new { annotations = new Dictionary<string, string?> { ["emulator.inference-in-a-box.io/predict-status"] = null } } },
                V1Patch.PatchType.MergePatch), Group, IsvcVersion, ns, Plural, "faulty");
        var healthy = await PostAsync($"{url}/v1/models/faulty:predict", """{"instances":[[1,2,3,4]]}""");
        Assert.Equal(HttpStatusCode.OK, healthy.StatusCode);
    }

    [Fact]
    public async Task Deleting_the_inference_service_removes_deployment_service_and_pods()
    {
        var ns = await emulator.NewNamespaceAsync();
        await CreateReadyAsync(ns, Isvc("gone"));

        await emulator.Client.CustomObjects.DeleteNamespacedCustomObjectAsync(Group, IsvcVersion, ns, Plural, "gone");

        var deployments = await emulator.Client.AppsV1.ListNamespacedDeploymentAsync(ns);
        var pods = await emulator.Client.CoreV1.ListNamespacedPodAsync(ns);
        var services = await emulator.Client.CoreV1.ListNamespacedServiceAsync(ns);
        Assert.Empty(deployments.Items);
        Assert.Empty(pods.Items);
        Assert.Empty(services.Items);
    }

    [Fact]
    public async Task Predictor_pods_have_logs_per_container()
    {
        var ns = await emulator.NewNamespaceAsync();
        await CreateReadyAsync(ns, Isvc("logged"));
        var pod = (await emulator.Client.CoreV1.ListNamespacedPodAsync(ns)).Items.Single();

        using var stream = await emulator.Client.CoreV1.ReadNamespacedPodLogAsync(pod.Metadata.Name, ns, container: "kserve-container", tailLines: 2);
        var text = await new StreamReader(stream).ReadToEndAsync();
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.Contains("Uvicorn running", lines[^1]);

        var (code, _) = await FailsAsync(() => emulator.Client.CoreV1.ReadNamespacedPodLogAsync(pod.Metadata.Name, ns));
        Assert.Equal(400, code);
    }
}
