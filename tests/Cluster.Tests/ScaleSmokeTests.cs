using System.Diagnostics;
using System.Text;
using Inference.TestSupport;
using Xunit.Abstractions;

namespace Inference.Cluster.Tests;

/// <summary>The program behind <c>./box scale</c> (bench/ScaleMeasure) at tiny sizes: it runs every phase to the end,
/// its correctness checks hold (every seeded model listed, before and after a restart; every subscriber gets every
/// change; every key validates), and it stops what it started. No timing is asserted.</summary>
public sealed class ScaleSmokeTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Scale_run_at_tiny_sizes_passes_its_checks_and_leaves_no_process_behind()
    {
        var configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;
        var dll = Path.Combine(TestEnvironment.RepoRoot(), "bench", "ScaleMeasure", "bin", configuration, "net10.0", "Inference.Bench.ScaleMeasure.dll");
        Assert.True(File.Exists(dll), $"{dll} is missing: build the solution first");
        var work = Directory.CreateTempSubdirectory("scale-smoke-").FullName;
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[]
                 {
                     dll, "--storage", TestEnvironment.StorageConnectionString, "--work", work,
                     "--tenants", "4", "--models", "2", "--keys", "12", "--subscribers", "6", "--subscribers-per-tenant", "2",
                     "--rounds", "2", "--seconds", "1", "--connections", "2", "--max-minutes", "6",
                 })
        {
            info.ArgumentList.Add(arg);
        }
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        var text = new StringBuilder();
        using var process = Process.Start(info)!;
        process.OutputDataReceived += (_, e) => { lock (text) { text.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (text) { text.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var bound = new CancellationTokenSource(TimeSpan.FromMinutes(8));
        try
        {
            await process.WaitForExitAsync(bound.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
        }
        process.WaitForExit();
        string all;
        lock (text)
        {
            all = text.ToString();
        }
        output.WriteLine(all);
        Assert.Equal(0, process.ExitCode);
        Assert.Contains("scale: every check passed", all);
        Assert.DoesNotContain("CHECK FAILED", all);
        Assert.Contains("check ok: the admin list shows exactly the 8 models seeded", all);
        Assert.Contains("check ok: after the restart the admin list shows all 8 models", all);
        Assert.Contains("check ok: every subscriber got every change of its tenant (0 missing)", all);
        Assert.Contains("check ok: 12 keys issued", all);
        Assert.Contains("check ok: keys drawn uniformly, grains cold (after restart): every validation answered 200", all);

        // Every serve process it started has exited (each wrote its own log; its pid is in the first line).
        var logs = Directory.GetFiles(work, "service-*.log");
        Assert.NotEmpty(logs);
        foreach (var log in logs)
        {
            var pid = int.Parse(File.ReadLines(log).First(l => l.StartsWith("serve:", StringComparison.Ordinal)).Split("pid ")[1].TrimEnd(')'));
            Assert.False(Directory.Exists($"/proc/{pid}"), $"serve process {pid} is still running");
        }
        Directory.Delete(work, recursive: true);
    }
}
