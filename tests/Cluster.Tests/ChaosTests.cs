using Inference.TestSupport;
using Xunit.Abstractions;

namespace Inference.Cluster.Tests;

/// <summary>The short form of `./box chaos`: a steady workload against 2 silos and 2 API hosts in client mode while,
/// in turn, a silo is SIGKILLed, Azure Storage goes away for 10 s and comes back on the same
/// data, and the Kubernetes API goes away for 10 s and comes back with its objects. Asserted are the musts only: no
/// 5xx but 503 with Retry-After, no acknowledged write lost. The figures per fault go to the test output, which
/// `./box chaos` prints and docs/reliability.md keeps.</summary>
public sealed class ChaosTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Outage = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Faults_under_load_answer_only_503s_with_retry_after_and_lose_no_acknowledged_write()
    {
        using var azurite = await AzuriteProcess.StartAsync();
        var data = Path.Combine(Directory.CreateTempSubdirectory("chaos-k8s-").FullName, "k8s.json");
        var emulator = await EmulatorHost.StartAsync(o => o.DataFile = data);
        await using var box = await BoxCluster.StartAsync(silos: 2, apiHosts: 2, SiloKillUnderLoadTests.FaultSettings, storage: azurite.ConnectionString, emulator: emulator);
        var keys = await SiloKillUnderLoadTests.PublishKeysAsync(box, "tenant-a", count: 2);

        await using var workload = new ChaosWorkload(box, "tenant-a", keys);
        workload.Start();
        await Task.Delay(TimeSpan.FromSeconds(5));
        var phases = new List<(string Fault, double From, double Until)>();

        // 1. A silo dies without warning; the other carries on alone. (Not started again here: on the loaded test
        // machine a silo joining mid-load missed the survivor's probes and was declared dead; docs/reliability.md.)
        var from = workload.Now;
        (await SiloKillUnderLoadTests.SiloOfAsync(box, await FirstModelAsync(box))).Kill();
        await Task.Delay(Settle);
        phases.Add(("SIGKILL a silo", from, workload.Now));

        // 2. Azure Storage away for 10 s, back on the same data.
        from = workload.Now;
        azurite.Stop();
        await Task.Delay(Outage);
        await azurite.StartAgainAsync();
        await Task.Delay(Settle);
        phases.Add(("Azurite stopped 10 s, restarted on its data", from, workload.Now));

        // 3. The Kubernetes API away for 10 s, back with its objects.
        from = workload.Now;
        await emulator.StopAsync();
        await Task.Delay(Outage);
        await emulator.StartAgainAsync();
        await Task.Delay(Settle);
        phases.Add(("Kubernetes API (emulator) stopped 10 s, restarted on its data", from, workload.Now));

        await workload.StopAsync();
        output.WriteLine(ChaosWorkload.SummaryHeader);
        output.WriteLine(workload.Summary("none (before the faults)", 0, phases[0].From));
        foreach (var (fault, start, until) in phases)
        {
            output.WriteLine(workload.Summary(fault, start, until));
        }
        var lost = await workload.LostWritesAsync();
        output.WriteLine($"acknowledged writes lost: {lost.Count}");
        foreach (var write in lost)
        {
            output.WriteLine("  lost: " + write);
        }

        var answers = workload.Answers.ToList();
        var errors = answers.Where(a => a.Status >= 500 && a.Status != 503).ToList();
        Assert.True(errors.Count == 0, string.Join("\n", errors.Take(5)) + box.Diagnostics());
        Assert.All(answers.Where(a => a.Status == 503), a => Assert.True(a.RetryAfter, $"503 without Retry-After: {a}"));
        Assert.True(lost.Count == 0, string.Join("\n", lost));
    }

    private static async Task<string> FirstModelAsync(BoxCluster box)
    {
        using var http = new HttpClient { BaseAddress = box.ApiHosts[0].BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", box.Tokens.Tenant("tenant-a"));
        var list = await TestEnvironment.Eventually(() => http.GetAsync("/api/models"), r => r.StatusCode == System.Net.HttpStatusCode.OK,
            TimeSpan.FromSeconds(60), "the list of models");
        return System.Text.Json.Nodes.JsonNode.Parse(await list.Content.ReadAsStringAsync())!["models"]!.AsArray()[0]!["name"]!.GetValue<string>();
    }
}
