using System.Diagnostics;
using Inference.TestSupport;
using Xunit.Abstractions;

namespace Inference.Cluster.Tests;

/// <summary>Shutdown is bounded whatever is down: a process sent SIGTERM after Azure Storage went away exits (its
/// bound, ShutdownTimeout, is what the chart's termination grace period is matched to).</summary>
public sealed class ShutdownTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Silo_and_api_hosts_sent_sigterm_after_storage_is_gone_exit()
    {
        using var azurite = await AzuriteProcess.StartAsync();
        await using var box = await BoxCluster.StartAsync(silos: 1, apiHosts: 1, storage: azurite.ConnectionString);
        // Embedded mode too: an API host co-hosting a silo, its grain state in the same storage.
        var port = TestEnvironment.FreePort();
        using var embedded = ServiceProcess.Start("embedded", "ApiHost", "Inference.ApiHost", new Dictionary<string, string>
        {
            ["ConnectionStrings__Storage"] = azurite.ConnectionString,
            ["Cluster__TablePrefix"] = TestEnvironment.UniqueTablePrefix(),
            ["Cluster__SiloPort"] = TestEnvironment.FreePort().ToString(),
            ["Cluster__GatewayPort"] = TestEnvironment.FreePort().ToString(),
            ["KUBECONFIG"] = box.Emulator.KubeconfigPath,
            ["urls"] = $"http://127.0.0.1:{port}",
            ["Logging__LogLevel__Default"] = "Warning",
        });
        using (var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) })
        {
            await TestEnvironment.Eventually(async () =>
            {
                try
                {
                    return (await http.GetAsync($"http://127.0.0.1:{port}/ready")).IsSuccessStatusCode;
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    return false;
                }
            }, ok => ok, TimeSpan.FromSeconds(90), "the embedded host to be ready");
        }

        azurite.Stop();
        var processes = new[] { box.Silos[0].Process, box.ApiHosts[0].Process, embedded };
        var clock = Stopwatch.StartNew();
        foreach (var process in processes)
        {
            process.Terminate();
        }
        foreach (var process in processes)
        {
            // Generous: far above the configured bound, well below "never".
            var exited = process.WaitForExit(TimeSpan.FromSeconds(90));
            output.WriteLine($"{process.Name}: {(exited ? $"exited ({process.ExitCode})" : "still running")} after {clock.Elapsed.TotalSeconds:F1} s");
            Assert.True(exited, $"{process.Name} did not exit after SIGTERM with storage gone\n{process.RecentOutput}");
        }
    }
}
