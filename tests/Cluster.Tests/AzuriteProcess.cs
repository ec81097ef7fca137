using System.Diagnostics;
using Inference.TestSupport;

namespace Inference.Cluster.Tests;

/// <summary>A private Azurite (the one `npm ci` installs) on free loopback ports, for tests that take storage away:
/// stopped and started again on the same ports and the same data, as an outage of a storage account looks.</summary>
public sealed class AzuriteProcess : IDisposable
{
    private readonly string _location = Directory.CreateTempSubdirectory("azurite-").FullName;
    private readonly int _blob = TestEnvironment.FreePort();
    private readonly int _queue = TestEnvironment.FreePort();
    private readonly int _table = TestEnvironment.FreePort();
    private Process? _process;

    public string ConnectionString =>
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
        + $"BlobEndpoint=http://127.0.0.1:{_blob}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{_queue}/devstoreaccount1;TableEndpoint=http://127.0.0.1:{_table}/devstoreaccount1;";

    public static async Task<AzuriteProcess> StartAsync()
    {
        var azurite = new AzuriteProcess();
        await azurite.StartAgainAsync();
        return azurite;
    }

    /// <summary>Starts Azurite on this instance's ports and data (again, after <see cref="Stop"/>).</summary>
    public async Task StartAgainAsync()
    {
        var script = Path.Combine(TestEnvironment.RepoRoot(), "node_modules", "azurite", "dist", "src", "azurite.js");
        if (!File.Exists(script))
        {
            throw new FileNotFoundException($"{script} is missing: run npm ci", script);
        }
        var info = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[]
                 {
                     script, "--silent", "--disableTelemetry", "--skipApiVersionCheck", "--location", _location,
                     "--blobHost", "127.0.0.1", "--blobPort", _blob.ToString(), "--queueHost", "127.0.0.1", "--queuePort", _queue.ToString(),
                     "--tableHost", "127.0.0.1", "--tablePort", _table.ToString(),
                 })
        {
            info.ArgumentList.Add(arg);
        }
        var process = _process = Process.Start(info) ?? throw new InvalidOperationException("could not start Azurite");
        var output = new System.Collections.Concurrent.ConcurrentQueue<string>();
        void Keep(string? line)
        {
            if (line is not null)
            {
                output.Enqueue(line);
                while (output.Count > 50 && output.TryDequeue(out _))
                {
                }
            }
        }
        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await TestEnvironment.Eventually(() => Task.FromResult(Listening(_table) || process.HasExited), up => up, TimeSpan.FromSeconds(60), "Azurite to listen");
        }
        catch (TimeoutException)
        {
        }
        if (!Listening(_table))
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
            // Without a limit: waits for its output to be read to the end as well.
            process.WaitForExit();
            throw new TimeoutException($"Azurite did not listen on {_table} (it exited with {process.ExitCode}); it said:\n"
                + string.Join('\n', output));
        }
    }

    private static bool Listening(int port)
    {
        try
        {
            using var client = new System.Net.Sockets.TcpClient();
            client.Connect(System.Net.IPAddress.Loopback, port);
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    /// <summary>Storage gone: Azurite stops (SIGTERM, so it keeps what it acknowledged, as a storage account does;
    /// killed, it loses its last seconds of writes), its data stays.</summary>
    public void Stop()
    {
        if (_process is { HasExited: false })
        {
            kill(_process.Id, 15);
            if (!_process.WaitForExit(20_000))
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        _process?.Dispose();
        _process = null;
    }

    public void Dispose()
    {
        Stop();
        try
        {
            Directory.Delete(_location, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
