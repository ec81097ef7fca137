using System.Text.Json.Nodes;
using static KubeEmulator.Tests.EmulatorFixture;

namespace KubeEmulator.Tests;

/// <summary>
/// The real kubectl against the emulator, unchanged: apply (client-side, server-side, dry runs, default strict
/// validation), get with server-side tables, wait, patch (merge, JSON, strategic), label, annotate, watch, logs,
/// describe, explain and delete.
/// </summary>
public sealed class KubectlFidelityTests(EmulatorFixture emulator) : IClassFixture<EmulatorFixture>
{
    private readonly Kubectl _kubectl = new(emulator);

    private static string Deployment(string name, string image = "nginx:1.27") => $"""
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {name}
          labels: {"{"}app: {name}{"}"}
        spec:
          replicas: 1
          selector:
            matchLabels: {"{"}app: {name}{"}"}
          template:
            metadata:
              labels: {"{"}app: {name}{"}"}
            spec:
              containers:
              - name: main
                image: {image}
                env:
                - {"{"}name: A, value: "1"{"}"}
        """;

    private static string Example(string file) => File.ReadAllText(Path.Combine(FixturesDir(), "kserve", "examples", file));

    [Fact]
    public async Task Apply_client_side_with_default_validation_then_unchanged_configured_and_dry_runs()
    {
        var ns = await emulator.NewNamespaceAsync();
        Assert.Contains("deployment.apps/web created", await _kubectl.OkWithInputAsync(Deployment("web"), "-n", ns, "apply", "-f", "-"));
        Assert.Contains("deployment.apps/web unchanged", await _kubectl.OkWithInputAsync(Deployment("web"), "-n", ns, "apply", "-f", "-"));

        Assert.Contains("deployment.apps/web configured (server dry run)", await _kubectl.OkWithInputAsync(Deployment("web", "nginx:1.28"), "-n", ns, "apply", "--dry-run=server", "-f", "-"));
        Assert.Contains("deployment.apps/web configured (dry run)", await _kubectl.OkWithInputAsync(Deployment("web", "nginx:1.28"), "-n", ns, "apply", "--dry-run=client", "-f", "-"));
        Assert.Equal("nginx:1.27", await _kubectl.OkAsync("-n", ns, "get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"));

        Assert.Contains("deployment.apps/web configured", await _kubectl.OkWithInputAsync(Deployment("web", "nginx:1.28"), "-n", ns, "apply", "-f", "-"));
        Assert.Equal("nginx:1.28", await _kubectl.OkAsync("-n", ns, "get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"));
    }

    [Fact]
    public async Task Default_validation_reports_an_unknown_field_as_the_server_does()
    {
        var ns = await emulator.NewNamespaceAsync();
        var manifest = Example("sklearn-iris.yaml").Replace("storageUri", "storageUrl");

        var result = await _kubectl.RunWithInputAsync(manifest, "-n", ns, "apply", "-f", "-");

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("strict decoding error: unknown field \"spec.predictor.sklearn.storageUrl\"", result.Stderr);
        Assert.DoesNotContain("failed to download openapi", result.Stderr);
    }

    [Fact]
    public async Task Server_side_apply_tracks_managers_and_a_conflict_is_409_until_forced()
    {
        var ns = await emulator.NewNamespaceAsync();
        Assert.Contains("deployment.apps/ssa serverside-applied", await _kubectl.OkWithInputAsync(Deployment("ssa"), "-n", ns, "apply", "--server-side", "-f", "-"));
        await _kubectl.OkAsync("-n", ns, "patch", "deploy", "ssa", "--type=merge", "-p", """{"spec":{"replicas":5}}""");
        Assert.Equal("kubectl kubectl-patch", await _kubectl.OkAsync("-n", ns, "get", "deploy", "ssa", "-o", "jsonpath={.metadata.managedFields[*].manager}"));

        // Changing a field another manager set is a conflict...
        var changed = Deployment("ssa", "nginx:1.28").Replace("replicas: 1", "replicas: 2");
        var conflict = await _kubectl.RunWithInputAsync(changed, "-n", ns, "apply", "--server-side", "-f", "-");
        Assert.NotEqual(0, conflict.ExitCode);
        Assert.Contains("Apply failed with 1 conflict: conflict with \"kubectl-patch\" using apps/v1: .spec.replicas", conflict.Stderr);
        Assert.Equal("5", await _kubectl.OkAsync("-n", ns, "get", "deploy", "ssa", "-o", "jsonpath={.spec.replicas}"));

        // ...until forced, which takes the field over.
        await _kubectl.OkWithInputAsync(changed, "-n", ns, "apply", "--server-side", "--force-conflicts", "-f", "-");
        Assert.Equal("2 nginx:1.28", await _kubectl.OkAsync("-n", ns, "get", "deploy", "ssa", "-o", "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image}"));
        Assert.Equal("kubectl", await _kubectl.OkAsync("-n", ns, "get", "deploy", "ssa", "-o", "jsonpath={.metadata.managedFields[*].manager}"));

        // A field the manager no longer applies, and nobody else owns, is removed.
        await _kubectl.OkWithInputAsync(changed.Replace("\n        env:\n        - {name: A, value: \"1\"}", ""), "-n", ns, "apply", "--server-side", "-f", "-");
        Assert.Equal("", await _kubectl.OkAsync("-n", ns, "get", "deploy", "ssa", "-o", "jsonpath={.spec.template.spec.containers[0].env}"));
    }

    [Fact]
    public async Task Get_prints_the_servers_columns_and_wait_sees_the_Ready_condition()
    {
        var ns = await emulator.NewNamespaceAsync();
        await _kubectl.OkWithInputAsync(Example("sklearn-iris.yaml"), "-n", ns, "apply", "-f", "-");
        Assert.Contains("condition met", await _kubectl.OkAsync("-n", ns, "wait", "--for=condition=Ready", "isvc/sklearn-iris", "--timeout=60s"));

        var isvc = (await _kubectl.OkAsync("-n", ns, "get", "isvc")).Split('\n');
        Assert.Matches(@"^NAME\s+URL\s+READY\s", isvc[0]);
        Assert.Matches($@"^sklearn-iris\s+http://\S+/serving/{ns}/sklearn-iris\s+True\s", isvc[1]);

        Assert.Matches(@"emulator-node-1\s+Ready\s+<none>\s+\S+\s+v1\.33", await _kubectl.OkAsync("get", "nodes"));
        Assert.Matches(@"sklearn-iris-predictor-\S+\s+2/2\s+Running\s+0", await _kubectl.OkAsync("-n", ns, "get", "pods"));
        Assert.Matches(@"sklearn-iris-predictor\s+ClusterIP\s+10\.\S+\s+<none>\s+80/TCP", await _kubectl.OkAsync("-n", ns, "get", "svc"));
        Assert.Matches($@"{ns}\s+Active", await _kubectl.OkAsync("get", "ns", ns));
    }

    [Fact]
    public async Task Patch_merge_json_and_strategic_then_label_annotate_and_select()
    {
        var ns = await emulator.NewNamespaceAsync();
        await _kubectl.OkWithInputAsync(Deployment("web"), "-n", ns, "apply", "-f", "-");

        await _kubectl.OkAsync("-n", ns, "patch", "deploy", "web", "--type=merge", "-p", """{"spec":{"replicas":2}}""");
        await _kubectl.OkAsync("-n", ns, "patch", "deploy", "web", "--type=json", "-p", """[{"op":"replace","path":"/spec/replicas","value":3}]""");
        // Strategic: the container is merged by name (its image stays) and env by name (A stays, B is added).
        await _kubectl.OkAsync("-n", ns, "patch", "deploy", "web", "-p", """{"spec":{"template":{"spec":{"containers":[{"name":"main","env":[{"name":"B","value":"2"}]}]}}}}""");
        var deployment = JsonNode.Parse(await _kubectl.OkAsync("-n", ns, "get", "deploy", "web", "-o", "json"))!;
        Assert.Equal(3, deployment["spec"]!["replicas"]!.GetValue<int>());
        var container = deployment["spec"]!["template"]!["spec"]!["containers"]!.AsArray().Single()!;
        Assert.Equal("nginx:1.27", container["image"]!.GetValue<string>());
        Assert.Equal(["A", "B"], container["env"]!.AsArray().Select(e => e!["name"]!.GetValue<string>()));

        await _kubectl.OkAsync("-n", ns, "label", "deploy", "web", "tier=frontend");
        await _kubectl.OkAsync("-n", ns, "annotate", "deploy", "web", "note=hello");
        Assert.Equal("web", await _kubectl.OkAsync("-n", ns, "get", "deploy", "-l", "tier=frontend", "-o", "jsonpath={.items[*].metadata.name}"));
        Assert.Equal("", await _kubectl.OkAsync("-n", ns, "get", "deploy", "-l", "tier!=frontend", "-o", "jsonpath={.items[*].metadata.name}"));
        Assert.Equal("hello", await _kubectl.OkAsync("-n", ns, "get", "deploy", "web", "-o", "jsonpath={.metadata.annotations.note}"));
    }

    [Fact]
    public async Task Watch_prints_a_change_as_it_happens()
    {
        var ns = await emulator.NewNamespaceAsync();
        await _kubectl.OkWithInputAsync(Deployment("web"), "-n", ns, "apply", "-f", "-");
        using var watch = _kubectl.StartStreaming("-n", ns, "get", "deploy", "--watch", "--output-watch-events");
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            Assert.Matches(@"^EVENT\s+NAME", await watch.StandardOutput.ReadLineAsync(timeout.Token));
            Assert.Matches(@"^ADDED\s+web\s", await watch.StandardOutput.ReadLineAsync(timeout.Token));
            await _kubectl.OkAsync("-n", ns, "patch", "deploy", "web", "--type=merge", "-p", """{"spec":{"replicas":4}}""");
            Assert.Matches(@"^MODIFIED\s+web\s+0/4", await watch.StandardOutput.ReadLineAsync(timeout.Token));
        }
        finally
        {
            watch.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public async Task Logs_describe_and_explain()
    {
        var ns = await emulator.NewNamespaceAsync();
        await _kubectl.OkWithInputAsync(Example("sklearn-iris.yaml"), "-n", ns, "apply", "-f", "-");
        await _kubectl.OkAsync("-n", ns, "wait", "--for=condition=Ready", "isvc/sklearn-iris", "--timeout=60s");
        var pod = (await _kubectl.OkAsync("-n", ns, "get", "pods", "-o", "name")).Trim();

        Assert.Contains("Registering model: sklearn-iris", await _kubectl.OkAsync("-n", ns, "logs", pod, "-c", "kserve-container"));
        Assert.Matches(@"Name:\s+sklearn-iris-predictor", await _kubectl.OkAsync("-n", ns, "describe", "deploy", "sklearn-iris-predictor"));
        Assert.Matches(@"Name:\s+sklearn-iris", await _kubectl.OkAsync("-n", ns, "describe", "isvc", "sklearn-iris"));

        var explained = await _kubectl.OkAsync("explain", "isvc.spec.predictor");
        Assert.Contains("KIND:       InferenceService", explained);
        Assert.Contains("FIELD: predictor <Object>", explained);
        Assert.Contains("DeploymentSpec is the specification of the desired behavior of the", await _kubectl.OkAsync("explain", "deployment.spec"));
    }

    [Fact]
    public async Task Delete_removes_the_service_and_what_the_controller_made()
    {
        var ns = await emulator.NewNamespaceAsync();
        await _kubectl.OkWithInputAsync(Example("sklearn-iris.yaml"), "-n", ns, "apply", "-f", "-");
        await _kubectl.OkAsync("-n", ns, "wait", "--for=condition=Ready", "isvc/sklearn-iris", "--timeout=60s");

        Assert.Contains("inferenceservice.serving.kserve.io \"sklearn-iris\" deleted", await _kubectl.OkAsync("-n", ns, "delete", "isvc", "sklearn-iris", "--wait=true"));
        Assert.Contains("No resources found", (await _kubectl.RunAsync("-n", ns, "get", "isvc,deploy,svc,pods")).Stderr);
        Assert.Contains("NotFound", (await _kubectl.RunAsync("-n", ns, "get", "isvc", "sklearn-iris")).Stderr);
    }
}
