using System.Net;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Text.Json.Nodes;
using Inference.TestSupport;

namespace Inference.Api.Tests;

[Collection(ApiCollection.Name)]
public sealed class KubectlApiTests(ApiFixture api)
{
    private async Task<string> Run(string command)
    {
        var body = await (await api.Admin().PostJson("/api/admin/kubectl", new { command })).AssertOk();
        Assert.Equal(command.Trim(), body["command"]!.GetValue<string>());
        return body["result"]!.GetValue<string>();
    }

    private static string[] Lines(string text) => text.Split('\n');

    private static string[] Cells(string line) => line.Split("   ", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    [Fact]
    public async Task Nodes_and_namespaces_come_back_as_kubectl_tables()
    {
        var nodes = Lines(await Run("get nodes"));
        Assert.Equal(["NAME", "STATUS", "ROLES", "AGE", "VERSION"], Cells(nodes[0]));
        Assert.Equal(3, nodes.Length);
        var node1 = Cells(nodes.Single(l => l.StartsWith("emulator-node-1 ", StringComparison.Ordinal)));
        Assert.Equal("Ready", node1[1]);
        Assert.Equal("<none>", node1[2]);
        Assert.Matches(@"^\d+(s|m)", node1[3]);
        Assert.StartsWith("v1.", node1[4]);
        // The header and the rows line up in columns, as kubectl's tabwriter does.
        Assert.Equal(nodes[0].IndexOf("STATUS", StringComparison.Ordinal), nodes[1].IndexOf("Ready", StringComparison.Ordinal));

        var wide = Lines(await Run("kubectl get no -o wide"));
        Assert.Contains("INTERNAL-IP", wide[0]);
        Assert.Contains("172.18.0.2", wide.Single(l => l.StartsWith("emulator-node-1", StringComparison.Ordinal)));

        var namespaces = await Run("get ns");
        Assert.Matches(@"(?m)^tenant-a\s+Active\s+\d+\w", namespaces);
        Assert.Matches(@"(?m)^kube-system\s+Active", namespaces);

        var tenants = Lines(await Run("get namespaces -l inference-in-a-box.io/tenant=true -o name"));
        Assert.Equal(["namespace/tenant-a", "namespace/tenant-b", "namespace/tenant-c"], tenants);

        var quoted = Lines(await Run("get ns -l 'inference-in-a-box.io/tenant in (true, yes)' -o name"));
        Assert.Equal(3, quoted.Length);
    }

    [Fact]
    public async Task A_models_objects_are_readable_in_every_allowed_form()
    {
        var name = "k" + Guid.NewGuid().ToString("N")[..8];
        var tenant = api.Tenant("tenant-b");
        await (await tenant.PostJson("/api/models", new { name, framework = "sklearn", storageUri = "gs://bucket/model" }))
            .AssertOk(HttpStatusCode.Created);
        var pods = await TestEnvironment.Eventually(() => Run($"get pods -n tenant-b -l serving.kserve.io/inferenceservice={name}"),
            t => t.Contains("Running", StringComparison.Ordinal), what: "the model's pod to run");
        var podLine = Lines(pods)[1];
        Assert.Equal(["NAME", "READY", "STATUS", "RESTARTS", "AGE"], Cells(Lines(pods)[0]));
        var pod = Cells(podLine)[0];
        Assert.StartsWith($"{name}-predictor-", pod);
        Assert.Equal(["2/2", "Running", "0"], Cells(podLine)[1..4]);

        var podsWide = await Run($"get pods {pod} -n tenant-b -o wide");
        Assert.Matches(@"10\.244\.\d+\.\d+\s+emulator-node-\d", podsWide);

        var all = Lines(await Run("get pods --all-namespaces"));
        Assert.Equal(["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"], Cells(all[0]));
        Assert.Contains(all, l => l.StartsWith("tenant-b ", StringComparison.Ordinal) && l.Contains(pod, StringComparison.Ordinal));

        var deployments = await TestEnvironment.Eventually(() => Run("get deploy -n tenant-b"),
            t => t.Contains($"{name}-predictor", StringComparison.Ordinal), what: "the predictor deployment");
        Assert.Equal(["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"], Cells(Lines(deployments)[0]));
        Assert.Equal(["1/1", "1", "1"], Cells(Lines(deployments).Single(l => l.StartsWith($"{name}-predictor ", StringComparison.Ordinal)))[1..4]);
        Assert.Contains("kserve/sklearnserver", await Run($"get deployment {name}-predictor -n tenant-b -o wide"));

        var services = await Run("get svc -n tenant-b");
        Assert.Equal(["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"], Cells(Lines(services)[0]));
        Assert.Contains($"{name}-predictor", services);

        var isvc = await TestEnvironment.Eventually(() => Run($"get isvc {name} -n tenant-b"),
            t => t.Contains("True", StringComparison.Ordinal), what: "the InferenceService to be Ready");
        Assert.Equal(["NAME", "URL", "READY", "AGE"], Cells(Lines(isvc)[0]));
        Assert.Contains($"/serving/tenant-b/{name}", isvc);

        Assert.Equal($"inferenceservice.serving.kserve.io/{name}", await Run($"get inferenceservices/{name} -n tenant-b -o name"));
        Assert.Equal($"pod/{pod}", await Run($"get po {pod} -n tenant-b -o name"));

        var yaml = await Run($"get isvc {name} -n tenant-b -o yaml");
        Assert.StartsWith("apiVersion: serving.kserve.io/v1beta1\n", yaml);
        Assert.Contains("kind: InferenceService", yaml);
        Assert.Contains($"  name: {name}", yaml);
        Assert.Contains("storageUri: gs://bucket/model", yaml);

        var json = JsonNode.Parse(await Run($"get pods -n tenant-b -l serving.kserve.io/inferenceservice={name} -o json"))!;
        Assert.Equal("List", json["kind"]!.GetValue<string>());
        var item = json["items"]!.AsArray().Single()!;
        Assert.Equal("Pod", item["kind"]!.GetValue<string>());
        Assert.Equal(pod, item["metadata"]!["name"]!.GetValue<string>());

        var describe = await Run($"describe pod {pod} -n tenant-b");
        Assert.Matches($@"(?m)^Name:\s+{pod}$", describe);
        Assert.Matches(@"(?m)^Namespace:\s+tenant-b$", describe);
        Assert.Contains($"serving.kserve.io/inferenceservice={name}", describe);
        Assert.Contains("Containers:", describe);
        Assert.Contains("kserve-container", describe);
        Assert.Matches(@"(?m)^  Phase:\s+Running$", describe);
        Assert.Matches(@"(?m)^Status:\s+Running$", describe);
        Assert.Matches(@"(?m)^Node:\s+emulator-node-\d/172\.18\.0\.\d$", describe);

        var describeDeployment = await Run($"describe deploy {name}-predictor -n tenant-b");
        Assert.Matches(@"(?m)^Replicas:\s+1 desired \| 1 updated \| 1 total \| 1 available \| 0 unavailable$", describeDeployment);

        var describeIsvc = await Run($"describe isvc {name} -n tenant-b");
        Assert.Contains("Kind:", describeIsvc);
        Assert.Contains("Storage Uri:  gs://bucket/model", describeIsvc);

        var logs = Lines(await Run($"logs {pod} -n tenant-b -c kserve-container --tail 3"));
        Assert.Equal(3, logs.Length);
        Assert.Contains("Uvicorn running on", logs[^1]);
        var allLogs = await Run($"logs pod/{pod} -n tenant-b -c kserve-container");
        Assert.Contains($"Registering model: {name}", allLogs);

        // A pod with two containers needs -c, as against a real API server.
        await (await api.Admin().PostJson("/api/admin/kubectl", new { command = $"logs {pod} -n tenant-b" }))
            .AssertError(HttpStatusCode.BadRequest, "container name must be specified");

        await (await tenant.DeleteAsync($"/api/models/{name}")).AssertOk();
    }

    [Fact]
    public async Task Gateway_kinds_the_service_writes_are_listed()
    {
        var tenant = api.Tenant("tenant-c");
        var name = await api.ReadyModelAsync(tenant);
        await tenant.PublishAsync(name);
        foreach (var kind in new[] { "httproutes", "backendtrafficpolicies", "securitypolicies" })
        {
            var all = await Run($"get {kind} -A");
            Assert.StartsWith("NAMESPACE", all);
            Assert.Contains($"tenant-c-{name}-", all);
            Assert.Contains("envoy-gateway-system", all);
            Assert.Equal($"No resources found in tenant-c namespace.", await Run($"get {kind} -n tenant-c"));
        }
        Assert.Equal("No resources found in tenant-c namespace.", await Run("get aigatewayroutes -n tenant-c"));
        await (await tenant.DeleteAsync($"/api/models/{name}")).AssertOk();
        Assert.DoesNotContain($"tenant-c-{name}-", await Run("get httproutes -A"));
    }

    [Fact]
    public async Task A_missing_object_is_404_in_the_contract_shape()
    {
        await (await api.Admin().PostJson("/api/admin/kubectl", new { command = "get pod nosuch -n tenant-a" }))
            .AssertError(HttpStatusCode.NotFound, "\"nosuch\" not found");
    }

    public static TheoryData<string> Refused =>
    [
        "get pods; rm -rf /", "get pods $(id)", "get pods `id`", "get pods | sh", "get pods && reboot",
        "get secrets -A", "get secret default-token -n kube-system", "get configmaps -n kube-system", "get cm", "describe secrets -n tenant-a",
        "get pods --server=https://evil.example", "get pods --kubeconfig=/root/.kube/config", "get pods --token=abc", "get --raw /api",
        "get -f pods.yaml", "exec p -- id", "delete ns tenant-a", "apply -f x.yaml", "edit deploy x", "port-forward p 80:80",
        "get pods -w", "get pods --watch", "logs p -f", "version", "get pods --frobnicate", "get widgets",
    ];

    [Theory]
    [MemberData(nameof(Refused))]
    public async Task Refused_commands_get_400_naming_what_is_allowed(string command)
    {
        var body = await (await api.Admin().PostJson("/api/admin/kubectl", new { command })).AssertError(HttpStatusCode.BadRequest);
        Assert.Equal("Command not allowed", body["error"]!.GetValue<string>());
        var details = body["details"]!.GetValue<string>();
        Assert.True(details.Contains("Allowed", StringComparison.Ordinal), details);
    }

    [Fact]
    public async Task Shell_syntax_runs_nothing()
    {
        var marker = Path.Combine(Path.GetTempPath(), "kubectl-marker-" + Guid.NewGuid().ToString("N"));
        foreach (var command in new[] { $"get pods; touch {marker}", $"get pods && touch {marker}", $"get pods | touch {marker}",
                     $"get pods $(touch {marker})", $"get pods `touch {marker}`", $"get pods > {marker}" })
        {
            await (await api.Admin().PostJson("/api/admin/kubectl", new { command })).AssertError(HttpStatusCode.BadRequest);
        }
        Assert.False(File.Exists(marker), "a shell ran a refused command");
    }

    [Fact]
    public void The_product_cannot_start_processes()
    {
        // Starting a process takes a reference to System.Diagnostics.Process (or ProcessStartInfo); none of the
        // service's assemblies has one, so no code path in them can start a process.
        var dir = AppContext.BaseDirectory;
        var assemblies = new[] { "Inference.ApiHost.dll", "Inference.Grains.dll", "Inference.Grains.Abstractions.dll", "Inference.Silo.dll" };
        foreach (var file in assemblies)
        {
            using var pe = new PEReader(File.OpenRead(Path.Combine(dir, file)));
            var metadata = pe.GetMetadataReader();
            var types = metadata.TypeReferences.Select(h => metadata.GetTypeReference(h))
                .Select(t => $"{metadata.GetString(t.Namespace)}.{metadata.GetString(t.Name)}").ToList();
            Assert.Contains(types, t => t.StartsWith("System.", StringComparison.Ordinal));
            Assert.DoesNotContain(types, t => t is "System.Diagnostics.Process" or "System.Diagnostics.ProcessStartInfo");
        }
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("{\"command\": \"\"}")]
    [InlineData("{\"command\": 5}")]
    [InlineData("not json")]
    public async Task A_missing_or_malformed_command_is_400(string body)
    {
        await (await api.Admin().PostRaw("/api/admin/kubectl", body)).AssertError(HttpStatusCode.BadRequest);
    }
}
