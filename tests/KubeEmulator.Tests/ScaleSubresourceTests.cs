using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace KubeEmulator.Tests;

/// <summary>A Deployment's <c>/scale</c> subresource as kubectl and the official C# client use it.</summary>
public sealed class ScaleSubresourceTests(EmulatorFixture emulator) : IClassFixture<EmulatorFixture>
{
    private readonly Kubectl _kubectl = new(emulator);

    private async Task<string> DeploymentAsync(int replicas)
    {
        var ns = await emulator.NewNamespaceAsync();
        await _kubectl.OkAsync("-n", ns, "create", "deployment", "web", "--image=nginx:1.27", $"--replicas={replicas}");
        return ns;
    }

    [Fact]
    public async Task Kubectl_scale_changes_replicas_checks_the_current_count_and_honours_a_server_dry_run()
    {
        var ns = await DeploymentAsync(1);
        Assert.Contains("deployment.apps/web scaled", await _kubectl.OkAsync("-n", ns, "scale", "deployment", "web", "--replicas=3"));
        Assert.Equal("3", await _kubectl.OkAsync("-n", ns, "get", "deployment", "web", "-o", "jsonpath={.spec.replicas}"));

        var wrongCurrent = await _kubectl.RunAsync("-n", ns, "scale", "deployment", "web", "--current-replicas=2", "--replicas=5");
        Assert.NotEqual(0, wrongCurrent.ExitCode);
        Assert.Contains("Expected replicas to be 2, was 3", wrongCurrent.Stderr);
        await _kubectl.OkAsync("-n", ns, "scale", "deployment", "web", "--current-replicas=3", "--replicas=5");

        Assert.Contains("(server dry run)", await _kubectl.OkAsync("-n", ns, "scale", "deployment/web", "--replicas=0", "--dry-run=server"));
        Assert.Equal("5", await _kubectl.OkAsync("-n", ns, "get", "deployment", "web", "-o", "jsonpath={.spec.replicas}"));
    }

    [Fact]
    public async Task The_client_reads_and_writes_a_Scale_and_the_apiserver_rules_hold()
    {
        var ns = await DeploymentAsync(2);
        var scale = await emulator.Client.ReadNamespacedDeploymentScaleAsync("web", ns);
        Assert.Equal(2, scale.Spec.Replicas);
        Assert.Equal("app=web", scale.Status.Selector);
        Assert.Equal("autoscaling/v1", scale.ApiVersion);

        scale.Spec.Replicas = 4;
        var replaced = await emulator.Client.ReplaceNamespacedDeploymentScaleAsync(scale, "web", ns);
        Assert.Equal(4, replaced.Spec.Replicas);
        var deployment = await emulator.Client.ReadNamespacedDeploymentAsync("web", ns);
        Assert.Equal(4, deployment.Spec.Replicas);
        Assert.Equal(2, deployment.Metadata.Generation); // a change of spec, like any other

        // The old Scale's resourceVersion is a precondition that no longer holds.
        var stale = await Assert.ThrowsAsync<HttpOperationException>(() => emulator.Client.ReplaceNamespacedDeploymentScaleAsync(scale, "web", ns));
        Assert.Equal(HttpStatusCode.Conflict, stale.Response.StatusCode);

        var patched = await emulator.Client.PatchNamespacedDeploymentScaleAsync(
            new V1Patch("""{"spec":{"replicas":1}}""", V1Patch.PatchType.MergePatch), "web", ns);
        Assert.Equal(1, patched.Spec.Replicas);

        // Negative and non-numeric counts are refused and change nothing.
        foreach (var bad in new[] { "-1", "\"three\"" })
        {
            using var content = new StringContent("{\"spec\":{\"replicas\":" + bad + "}}", Encoding.UTF8, "application/merge-patch+json");
            var response = await emulator.Http.PatchAsync($"{emulator.BaseAddress}/apis/apps/v1/namespaces/{ns}/deployments/web/scale", content);
            Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
            Assert.Contains("spec.replicas", await response.Content.ReadAsStringAsync());
        }
        Assert.Equal(1, (await emulator.Client.ReadNamespacedDeploymentAsync("web", ns)).Spec.Replicas);
    }

    [Fact]
    public async Task Discovery_lists_the_subresource_with_its_kind_and_only_Deployments_have_it()
    {
        var resources = JsonNode.Parse(await emulator.Http.GetStringAsync($"{emulator.BaseAddress}/apis/apps/v1"))!["resources"]!.AsArray();
        var scale = resources.Single(r => r!["name"]!.GetValue<string>() == "deployments/scale")!;
        Assert.Equal("Scale", scale["kind"]!.GetValue<string>());
        Assert.Equal("autoscaling", scale["group"]!.GetValue<string>());
        Assert.Equal(["get", "patch", "update"], scale["verbs"]!.AsArray().Select(v => v!.GetValue<string>()));

        var ns = await emulator.NewNamespaceAsync();
        var other = await emulator.Http.GetAsync($"{emulator.BaseAddress}/api/v1/namespaces/{ns}/pods/p/scale");
        Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
    }
}
