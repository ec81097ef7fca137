using System.Diagnostics;
using System.Text.Json.Nodes;

namespace KubeEmulator.Tests;

/// <summary>
/// An official client other than the one the service uses: the Kubernetes Python client (Debian's
/// python3-kubernetes, installed by Clients/ensure-python-kubernetes.sh when missing) lists, creates, watches from a
/// resourceVersion (it sends <c>watch=True</c>), meets a conflict and deletes (Clients/python_client_checks.py).
/// </summary>
public sealed class PythonClientFidelityTests(EmulatorFixture emulator) : IClassFixture<EmulatorFixture>
{
    private static readonly string ClientsDir = Path.Combine(EmulatorFixture.RepoRoot(), "tests", "KubeEmulator.Tests", "Clients");

    [Fact]
    public async Task List_create_watch_from_a_resourceVersion_conflict_and_delete()
    {
        var (setupExit, setupOut, setupErr) = await RunAsync(Path.Combine(ClientsDir, "ensure-python-kubernetes.sh"));
        Assert.True(setupExit == 0, setupOut + setupErr);
        var ns = await emulator.NewNamespaceAsync();

        var (exit, output, errors) = await RunAsync("/usr/bin/python3", Path.Combine(ClientsDir, "python_client_checks.py"), emulator.KubeconfigPath, ns);

        Assert.True(exit == 0, output + errors);
        var seen = JsonNode.Parse(output)!;
        Assert.Contains(ns, seen["namespaces"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Equal("iris", seen["isvc_created"]!.GetValue<string>());
        Assert.Equal(["iris"], seen["isvc_listed"]!.AsArray().Select(n => n!.GetValue<string>()));
        var watched = Assert.Single(seen["watch"]!.AsArray())!;
        Assert.Equal("MODIFIED", watched[0]!.GetValue<string>());
        Assert.Equal("settings", watched[1]!.GetValue<string>());
        Assert.Equal("b", watched[2]!["mode"]!.GetValue<string>());
        Assert.Equal(409, seen["conflict"]!["status"]!.GetValue<int>());
        Assert.Equal("Conflict", seen["conflict"]!["reason"]!.GetValue<string>());
        Assert.Equal(404, seen["after_delete"]!["status"]!.GetValue<int>());
    }

    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args) info.ArgumentList.Add(arg);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout, await stderr);
    }
}
