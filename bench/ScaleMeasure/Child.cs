using System.Diagnostics;
using System.Net.Http.Json;
using Inference.TestSupport;

namespace Inference.Bench.ScaleMeasure;

/// <summary>One <c>serve</c> process this program started: the API host under measurement. Stopped gracefully through
/// its control listener, killed when it does not exit in time; every one still running is killed when the program
/// ends, however it ends.</summary>
public sealed class Child : IAsyncDisposable
{
    private static readonly List<Child> Running = [];
    private readonly Process _process;
    private readonly HttpClient _control;

    private Child(Process process, Uri api, Uri control, DateTimeOffset startedAt)
    {
        _process = process;
        Api = api;
        _control = new HttpClient { BaseAddress = control, Timeout = TimeSpan.FromMinutes(10) };
        StartedAt = startedAt;
    }

    private StreamWriter? _log;
    private bool _disposed;

    public Uri Api { get; }

    private void Write(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_process)
        {
            _log?.WriteLine(line);
        }
    }

    public DateTimeOffset StartedAt { get; }

    /// <summary>Set once stopped: whether the graceful stop did not end within its bound and the process was killed.</summary>
    public bool KilledAtStop { get; private set; }

    public int Pid => _process.Id;

    public static async Task<Child> StartAsync(IReadOnlyDictionary<string, string> environment, string log, TimeSpan timeout)
    {
        var apiPort = TestEnvironment.FreePort();
        var controlPort = TestEnvironment.FreePort();
        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(typeof(Child).Assembly.Location);
        info.ArgumentList.Add("serve");
        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }
        info.Environment["urls"] = $"http://127.0.0.1:{apiPort}";
        info.Environment["SCALE_CONTROL_PORT"] = controlPort.ToString();
        info.Environment["Cluster__SiloPort"] = TestEnvironment.FreePort().ToString();
        info.Environment["Cluster__GatewayPort"] = TestEnvironment.FreePort().ToString();
        var startedAt = DateTimeOffset.UtcNow;
        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start the serve process");
        var child = new Child(process, new Uri($"http://127.0.0.1:{apiPort}"), new Uri($"http://127.0.0.1:{controlPort}"), startedAt);
        lock (Running)
        {
            Running.Add(child);
        }
        var writer = new StreamWriter(log, append: true) { AutoFlush = true };
        child._log = writer;
        process.OutputDataReceived += (_, e) => child.Write(e.Data);
        process.ErrorDataReceived += (_, e) => child.Write(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"the serve process exited (code {process.ExitCode}) before it was ready; see {log}");
            }
            try
            {
                if ((await probe.GetAsync(new Uri(child.Api, "/ready"))).IsSuccessStatusCode
                    && (await probe.GetAsync(new Uri(child._control.BaseAddress!, "/cpu"))).IsSuccessStatusCode)
                {
                    return child;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }
            if (DateTime.UtcNow > deadline)
            {
                await child.DisposeAsync();
                throw new TimeoutException($"the serve process was not ready within {timeout}; see {log}");
            }
            await Task.Delay(200);
        }
    }

    public async Task<HeapReading> HeapAsync() => (await _control.GetFromJsonAsync<HeapReading>("/heap"))!;

    public async Task<double> CpuAsync() => await _control.GetFromJsonAsync<double>("/cpu");

    public async Task<WatchLine[]> WatchLinesAsync() => (await _control.GetFromJsonAsync<WatchLine[]>("/watch"))!;

    public async Task<Dictionary<string, int>> ActivationsAsync() => (await _control.GetFromJsonAsync<Dictionary<string, int>>("/grains"))!;

    public async Task<ProfileFigure[]> ProfileModelsAsync() => (await _control.GetFromJsonAsync<ProfileFigure[]>("/profile/models"))!;

    public async Task<string[]> SeedKeysAsync(int count)
    {
        var response = await _control.PostAsync($"/keys?count={count}", null);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    /// <summary>The watch lines written at or after <paramref name="since"/>, once one says it listed <paramref name="what"/>.</summary>
    public async Task<(DateTimeOffset Holds, DateTimeOffset Listed, string Line)> WaitListedAsync(string what, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var lines = await WatchLinesAsync();
            var listed = lines.FirstOrDefault(l => l.Message.StartsWith("Listed ", StringComparison.Ordinal) && l.Message.Contains($" {what} at "));
            if (listed is not null)
            {
                var holds = lines.FirstOrDefault(l => l.Message.Contains("holds the cluster watch"))?.At ?? StartedAt;
                return (holds, listed.At, listed.Message);
            }
            if (DateTime.UtcNow > deadline || _process.HasExited)
            {
                throw new TimeoutException($"the cluster watch did not list {what} within {timeout}");
            }
            await Task.Delay(100);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        lock (Running)
        {
            Running.Remove(this);
        }
        if (!_process.HasExited)
        {
            try
            {
                await _control.PostAsync("/stop", null).WaitAsync(TimeSpan.FromSeconds(5));
            }
            catch (Exception)
            {
                // Killed below when it does not go.
            }
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await _process.WaitForExitAsync(wait.Token);
            }
            catch (OperationCanceledException)
            {
                KilledAtStop = true;
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }
        lock (_process)
        {
            _log?.Dispose();
            _log = null;
        }
        _control.Dispose();
        _process.Dispose();
    }

    /// <summary>Kills every serve process still running (the program is ending abnormally): by its own PID only.</summary>
    public static void KillAll()
    {
        lock (Running)
        {
            foreach (var child in Running)
            {
                try
                {
                    if (!child._process.HasExited)
                    {
                        child._process.Kill(entireProcessTree: true);
                    }
                }
                catch (InvalidOperationException)
                {
                }
            }
            Running.Clear();
        }
    }
}
