using System.Collections.Concurrent;
using System.Diagnostics;
using Inference.TestSupport;

namespace Inference.Cluster.Tests;

/// <summary>One of the box's own programs (a silo, an API host) as a real child process, with its output kept
/// for diagnosis when a test fails.</summary>
public sealed class ServiceProcess : IDisposable
{
    /// <summary>When set, every process's whole output also goes to a file of its own there (`./box chaos` sets it,
    /// so a run that fails a must keeps what the silos said).</summary>
    public const string LogDirectoryVariable = "CLUSTER_TESTS_PROCESS_LOGS";

    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();
    private readonly ConcurrentQueue<string>? _all;
    private readonly ConcurrentQueue<string> _ownErrors = new();
    private readonly StreamWriter? _file;
    private readonly bool[] _inOwnError = new bool[2];

    private ServiceProcess(string name, Process process, bool keepAll)
    {
        Name = name;
        _process = process;
        _all = keepAll ? new() : null;
        if (Environment.GetEnvironmentVariable(LogDirectoryVariable) is { Length: > 0 } directory)
        {
            Directory.CreateDirectory(directory);
            _file = new StreamWriter(Path.Combine(directory, $"{name}-{process.Id}.log"), append: true) { AutoFlush = true };
        }
    }

    /// <summary>Every line the process wrote, when started with <c>keepAll</c> (for tests that scan all of it).</summary>
    public IReadOnlyCollection<string> AllOutput => _all ?? throw new InvalidOperationException($"{Name} was not started with keepAll");

    public string Name { get; }

    public bool HasExited => _process.HasExited;

    public static ServiceProcess Start(string name, string project, string assembly, IDictionary<string, string> environment, params string[] args) =>
        Start(name, project, assembly, environment, keepAll: false, args);

    public static ServiceProcess Start(string name, string project, string assembly, IDictionary<string, string> environment, bool keepAll, params string[] args)
    {
        var configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name; // bin/{Configuration}/net10.0
        var dll = Path.Combine(TestEnvironment.RepoRoot(), "src", project, "bin", configuration, "net10.0", assembly + ".dll");
        if (!File.Exists(dll))
        {
            throw new FileNotFoundException($"{dll} is missing: build the solution first", dll);
        }
        // From the repository root, as ./box starts them.
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = TestEnvironment.RepoRoot(),
        };
        info.ArgumentList.Add(dll);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        info.Environment["DOTNET_gcServer"] = "0";
        info.Environment["Logging__Console__FormatterName"] = "simple";
        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }
        var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {name}");
        var service = new ServiceProcess(name, process, keepAll);
        process.OutputDataReceived += (_, e) => service.Keep(e.Data, stream: 0);
        process.ErrorDataReceived += (_, e) => service.Keep(e.Data, stream: 1);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return service;
    }

    private void Keep(string? line, int stream)
    {
        if (line is null)
        {
            return;
        }
        _output.Enqueue(line);
        _all?.Enqueue(line);
        // The service's own errors (an unhandled request, a failed write) are kept apart: under load the recent tail
        // has long moved past them when the test that fails because of them reports.
        if (!line.StartsWith(' '))
        {
            _inOwnError[stream] = line.StartsWith("fail: Inference.", StringComparison.Ordinal) || line.StartsWith("crit: Inference.", StringComparison.Ordinal);
        }
        if (_inOwnError[stream])
        {
            _ownErrors.Enqueue(line);
            while (_ownErrors.Count > 200 && _ownErrors.TryDequeue(out _))
            {
            }
        }
        if (_file is not null)
        {
            lock (_file)
            {
                _file.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {line}");
            }
        }
        while (_output.Count > 400 && _output.TryDequeue(out _))
        {
        }
    }

    /// <summary>How many inotify watches (file-change subscriptions, Linux) the process holds.</summary>
    public int InotifyWatches => Directory.EnumerateFiles($"/proc/{_process.Id}/fdinfo")
        .Sum(fd =>
        {
            try
            {
                return File.ReadLines(fd).Count(line => line.StartsWith("inotify wd", StringComparison.Ordinal));
            }
            catch (IOException)
            {
                return 0; // closed meanwhile
            }
        });

    public string RecentOutput => $"--- {Name} ---\n" + string.Join('\n', _output)
        + (_ownErrors.IsEmpty ? "" : $"\n--- {Name}: its own errors, the latest ---\n" + string.Join('\n', _ownErrors));

    /// <summary>Waits for a command to finish; kills it past <paramref name="limit"/>.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan limit)
    {
        using var cancel = new CancellationTokenSource(limit);
        try
        {
            await _process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            Kill();
            throw new TimeoutException($"{Name} did not finish within {limit}\n{RecentOutput}");
        }
        return _process.ExitCode;
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    /// <summary>SIGTERM, as Kubernetes and ./box stop a process: it shuts down gracefully, in its own time.</summary>
    public void Terminate()
    {
        if (!_process.HasExited && kill(_process.Id, 15) != 0)
        {
            throw new InvalidOperationException($"kill -TERM {_process.Id} failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
        }
    }

    /// <summary>Waits for the process to exit by itself; false when it is still running after <paramref name="limit"/>.</summary>
    public bool WaitForExit(TimeSpan limit) => _process.WaitForExit(limit);

    public int ExitCode => _process.ExitCode;

    /// <summary>SIGKILL: no shutdown hooks, no goodbye to the cluster, as when a node dies.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
        if (_file is not null)
        {
            lock (_file)
            {
                _file.Dispose();
            }
        }
    }
}
