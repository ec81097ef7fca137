using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using KubeEmulator.Json;
using static KubeEmulator.Tests.EmulatorFixture;

namespace KubeEmulator.Tests;

/// <summary>
/// The Helm chart as it would be installed: rendered by the pinned Helm (helm/helm.sh) with the default values and
/// with values-production.yaml, and every object it renders sent to the emulator as <c>kubectl apply
/// --dry-run=server</c> sends it (dryRun=All, fieldValidation=Strict), against the real schemas of its kinds.
/// </summary>
public sealed class ChartDryRunTests(EmulatorFixture emulator) : IClassFixture<EmulatorFixture>
{
    private const string Namespace = "inference";

    /// <summary>What the chart refuses to render without: the secrets have no defaults.</summary>
    private static readonly string[] RequiredSettings =
    [
        "secrets.storage.connectionString=UseDevelopmentStorage=true",
        "secrets.jwt.value=0123456789abcdef0123456789abcdef0123",
        "secrets.admin.passwordHash=opaque-hash-value",
        "tls.generate=true",
    ];

    public static IEnumerable<object[]> ValueSets() =>
    [
        ["defaults", new[] { "--set", string.Join(',', RequiredSettings) }],
        ["production", new[] { "-f", Path.Combine(RepoRoot(), "helm", "inference-management", "values-production.yaml") }],
    ];

    [Theory]
    [MemberData(nameof(ValueSets))]
    public async Task Every_rendered_object_passes_a_strict_server_dry_run(string name, string[] values)
    {
        var objects = await RenderAsync(values);
        Assert.Contains(objects, o => Kind(o) == "Deployment");
        await EnsureNamespaceAsync();

        var failures = new List<string>();
        foreach (var obj in objects)
        {
            using var response = await DryRunAsync(obj);
            if (response.StatusCode != HttpStatusCode.Created || response.Headers.Contains("Warning"))
                failures.Add($"{Kind(obj)}/{obj["metadata"]!["name"]}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
        Assert.True(failures.Count == 0, $"{name}: " + string.Join('\n', failures));

        // A dry run writes nothing.
        var secrets = JsonNode.Parse(await emulator.Http.GetStringAsync($"{emulator.BaseAddress}/api/v1/namespaces/{Namespace}/secrets"))!;
        Assert.Empty(secrets["items"]!.AsArray());
    }

    [Fact]
    public async Task A_rendered_object_with_an_unknown_field_or_a_bad_name_is_refused()
    {
        var objects = await RenderAsync("--set", string.Join(',', RequiredSettings));
        await EnsureNamespaceAsync();
        var deployment = objects.First(o => Kind(o) == "Deployment");
        var service = objects.First(o => Kind(o) == "Service");

        var misspelt = (JsonObject)deployment.DeepClone();
        misspelt["spec"]!["template"]!["spec"]!["containers"]![0]!["livenessProbes"] = new JsonObject();
        using (var response = await DryRunAsync(misspelt))
        {
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            var status = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            Assert.EndsWith("strict decoding error: unknown field \"spec.template.spec.containers[0].livenessProbes\"", status["message"]!.GetValue<string>());
        }

        var renamed = (JsonObject)service.DeepClone();
        renamed["metadata"]!["name"] = "1-inference";
        using (var response = await DryRunAsync(renamed))
        {
            Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
            var status = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            Assert.StartsWith("Service \"1-inference\" is invalid: metadata.name: Invalid value: \"1-inference\": a DNS-1035 label must consist of",
                status["message"]!.GetValue<string>());
        }

        var newline = (JsonObject)deployment.DeepClone();
        newline["metadata"]!["name"] = "silo\n";
        using (var response = await DryRunAsync(newline))
            Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
    }

    private static string Kind(JsonObject obj) => obj["kind"]!.GetValue<string>();

    private async Task EnsureNamespaceAsync()
    {
        var body = new JsonObject { ["apiVersion"] = "v1", ["kind"] = "Namespace", ["metadata"] = new JsonObject { ["name"] = Namespace } };
        using var response = await emulator.Http.PostAsync($"{emulator.BaseAddress}/api/v1/namespaces", new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        Assert.True(response.StatusCode is HttpStatusCode.Created or HttpStatusCode.Conflict, await response.Content.ReadAsStringAsync());
    }

    /// <summary>Finds the object's resource through discovery, as kubectl does, and POSTs it with a server dry run.</summary>
    private async Task<HttpResponseMessage> DryRunAsync(JsonObject obj)
    {
        var apiVersion = obj["apiVersion"]!.GetValue<string>();
        var groupVersionPath = apiVersion.Contains('/') ? $"apis/{apiVersion}" : $"api/{apiVersion}";
        var resources = JsonNode.Parse(await emulator.Http.GetStringAsync($"{emulator.BaseAddress}/{groupVersionPath}"))!["resources"]!.AsArray();
        var resource = resources.Single(r => r!["kind"]!.GetValue<string>() == Kind(obj) && !r["name"]!.GetValue<string>().Contains('/'))!;
        var collection = resource["namespaced"]!.GetValue<bool>()
            ? $"{groupVersionPath}/namespaces/{Namespace}/{resource["name"]}"
            : $"{groupVersionPath}/{resource["name"]}";
        return await emulator.Http.PostAsync($"{emulator.BaseAddress}/{collection}?dryRun=All&fieldValidation=Strict&fieldManager=kubectl-client-side-apply",
            new StringContent(obj.ToJsonString(), Encoding.UTF8, "application/json"));
    }

    private static async Task<List<JsonObject>> RenderAsync(params string[] values)
    {
        var info = new ProcessStartInfo(Path.Combine(RepoRoot(), "helm", "helm.sh"))
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var argument in new[] { "template", "r", Path.Combine(RepoRoot(), "helm", "inference-management"), "--namespace", Namespace }.Concat(values))
            info.ArgumentList.Add(argument);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, await stderr);
        return YamlJson.ParseAll(await stdout).OfType<JsonObject>().ToList();
    }
}
