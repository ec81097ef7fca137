using System.Net;
using Inference.TestSupport;

namespace Inference.Api.Tests;

/// <summary>A host whose console output cap is tiny, so every form of output hits it.</summary>
public sealed class KubectlSmallOutputFixture : ApiFixture
{
    public const int Cap = 100;

    protected override void Configure(IDictionary<string, string?> settings) =>
        settings["Kubectl:MaxOutputChars"] = Cap.ToString();
}

/// <summary>A host whose console gives the API server no time at all, so every command runs out of it.</summary>
public sealed class KubectlNoTimeFixture : ApiFixture
{
    protected override void Configure(IDictionary<string, string?> settings) =>
        settings["Kubectl:Timeout"] = "00:00:00";
}

public sealed class KubectlOutputCapTests(KubectlSmallOutputFixture api) : IClassFixture<KubectlSmallOutputFixture>
{
    private const string Marker = "\n[output truncated at 100 characters]";

    private async Task<string> Run(string command) =>
        (await (await api.Admin().PostJson("/api/admin/kubectl", new { command })).AssertOk())["result"]!.GetValue<string>();

    [Fact]
    public async Task Output_past_the_cap_is_cut_and_says_so()
    {
        var yaml = await Run("get nodes -o yaml");
        Assert.EndsWith(Marker, yaml);
        Assert.Equal(KubectlSmallOutputFixture.Cap + Marker.Length, yaml.Length);
        Assert.StartsWith("apiVersion: v1", yaml);

        // Logs are read no further than the cap.
        var name = "cap" + Guid.NewGuid().ToString("N")[..8];
        await (await api.Tenant("tenant-a").PostJson("/api/models", new { name, framework = "sklearn", storageUri = "gs://bucket/model" }))
            .AssertOk(HttpStatusCode.Created);
        var pod = (await TestEnvironment.Eventually(
            () => Run($"get pods -n tenant-a -l serving.kserve.io/inferenceservice={name} -o name"),
            t => t.StartsWith("pod/", StringComparison.Ordinal), what: "the model's pod")).Split('\n')[0]["pod/".Length..];
        var logs = await TestEnvironment.Eventually(() => Run($"logs {pod} -n tenant-a -c kserve-container"),
            t => t.EndsWith(Marker, StringComparison.Ordinal), what: "the pod's logs to pass the cap");
        Assert.Equal(KubectlSmallOutputFixture.Cap + Marker.Length, logs.Length);

        // Short output is untouched.
        Assert.Equal("namespace/tenant-a", await Run("get ns tenant-a -o name"));
    }
}

public sealed class KubectlTimeoutTests(KubectlNoTimeFixture api) : IClassFixture<KubectlNoTimeFixture>
{
    [Theory]
    [InlineData("get pods -A")]
    [InlineData("describe nodes")]
    [InlineData("logs some-pod -n tenant-a")]
    public async Task A_command_that_runs_out_of_time_is_503_not_a_hang(string command)
    {
        var response = await api.Admin().PostJson("/api/admin/kubectl", new { command });
        await response.AssertError(HttpStatusCode.ServiceUnavailable, "kubectl command failed");
        var body = await (await api.Admin().PostJson("/api/admin/kubectl", new { command })).Json();
        Assert.Equal("Kubernetes API did not answer in time", body["details"]!.GetValue<string>());
    }
}
