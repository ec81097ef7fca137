using System.Net;
using Inference.ApiHost.Health;
using Inference.TestSupport;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Inference.Api.Tests;

[Collection(ApiCollection.Name)]
public sealed class HealthTests(ApiFixture api)
{
    [Fact]
    public async Task Liveness_answers_ok_and_readiness_ready_when_storage_kubernetes_and_orleans_answer()
    {
        var live = await (await api.Client().GetAsync("/health")).AssertOk();
        Assert.Equal("""{"status":"ok"}""", live.ToJsonString());
        var ready = await (await api.Client().GetAsync("/ready")).AssertOk();
        Assert.Equal("""{"status":"ready"}""", ready.ToJsonString());
    }

    [Fact]
    public async Task The_storage_check_passes_against_the_account_and_fails_against_an_unreachable_one()
    {
        var context = new HealthCheckContext();
        var reachable = new HealthApi.StorageCheck(new Silo.ClusterSettings { StorageConnectionString = TestEnvironment.StorageConnectionString });
        Assert.Equal(HealthStatus.Healthy, (await reachable.CheckHealthAsync(context, CancellationToken.None)).Status);

        var port = TestEnvironment.FreePort();
        var dead = new HealthApi.StorageCheck(new Silo.ClusterSettings
        {
            StorageConnectionString = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
                + $"TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;",
        });
        // The health check service turns a throwing check into Unhealthy (with the exception for the log).
        await Assert.ThrowsAnyAsync<Exception>(() => dead.CheckHealthAsync(context, CancellationToken.None));
    }
}

/// <summary>A host whose kubeconfig names an API server that is not there.</summary>
public sealed class NoKubernetesFixture : ApiFixture
{
    protected override void Configure(IDictionary<string, string?> settings)
    {
        var path = Path.Combine(Path.GetDirectoryName(Emulator.KubeconfigPath)!, "dead-kubeconfig");
        var kubeconfig = File.ReadAllText(Emulator.KubeconfigPath);
        File.WriteAllText(path, kubeconfig.Replace(new Uri(Emulator.BaseAddress).Authority, $"127.0.0.1:{TestEnvironment.FreePort()}"));
        settings["KUBECONFIG"] = path;
    }
}

public sealed class NotReadyTests(NoKubernetesFixture api) : IClassFixture<NoKubernetesFixture>
{
    [Fact]
    public async Task Readiness_without_kubernetes_is_a_bare_503_and_the_reason_goes_to_the_log()
    {
        var response = await api.Client().GetAsync("/ready");
        var body = await response.AssertError(HttpStatusCode.ServiceUnavailable);
        Assert.Equal("""{"error":"Service temporarily unavailable","details":"Not ready; retry shortly"}""", body.ToJsonString());
        Assert.Equal("2", response.Headers.RetryAfter?.Delta?.TotalSeconds.ToString());
        Assert.Contains(api.Logs.Lines, l => l.Contains("Not ready: kubernetes", StringComparison.Ordinal));
        // Liveness runs no check: the process answers.
        (await api.Client().GetAsync("/health")).EnsureSuccessStatusCode();
    }
}
