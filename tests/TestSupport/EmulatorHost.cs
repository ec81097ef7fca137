using KubeEmulator;
using Microsoft.AspNetCore.Builder;

namespace Inference.TestSupport;

/// <summary>The Kubernetes API emulator on a random loopback port, with a kubeconfig file for clients.</summary>
public sealed class EmulatorHost : IAsyncDisposable
{
    private WebApplication _app;
    private readonly string _dir;
    private readonly Action<EmulatorOptions>? _configure;
    private bool _stopped;

    private EmulatorHost(WebApplication app, string dir, string kubeconfig, Action<EmulatorOptions>? configure)
    {
        _app = app;
        _dir = dir;
        KubeconfigPath = kubeconfig;
        _configure = configure;
        BaseAddress = app.BaseAddress();
    }

    public string KubeconfigPath { get; }

    public string BaseAddress { get; }

    public static async Task<EmulatorHost> StartAsync(Action<EmulatorOptions>? configure = null)
    {
        var dir = Directory.CreateTempSubdirectory("kube-emulator-").FullName;
        var kubeconfig = Path.Combine(dir, "kubeconfig");
        var app = KubeEmulatorApp.Build([], o =>
        {
            // A port it can be started again on (TestEnvironment.FreePort), not one the kernel picks from its ephemeral range.
            o.Urls = $"http://127.0.0.1:{TestEnvironment.FreePort()}";
            o.KubeconfigPath = kubeconfig;
            o.ReadyDelay = TimeSpan.FromMilliseconds(300);
            configure?.Invoke(o);
        });
        await app.StartAsync();
        await TestEnvironment.Eventually(() => Task.FromResult(File.Exists(kubeconfig)), x => x, what: "the emulator's kubeconfig");
        return new EmulatorHost(app, dir, kubeconfig, configure);
    }

    /// <summary>The Kubernetes API gone: the emulator stops listening (its objects stay in its data file, when it
    /// has one).</summary>
    public async Task StopAsync()
    {
        _stopped = true;
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    /// <summary>Starts the emulator again on the same address, from its data file.</summary>
    public async Task StartAgainAsync()
    {
        var address = BaseAddress;
        _app = KubeEmulatorApp.Build([], o =>
        {
            o.Urls = address;
            o.KubeconfigPath = KubeconfigPath;
            o.ReadyDelay = TimeSpan.FromMilliseconds(300);
            _configure?.Invoke(o);
        });
        await _app.StartAsync();
        _stopped = false;
    }

    /// <summary>An etcd compaction: every open watch ends with 410 Expired and its client must list again.</summary>
    public long CompactWatchHistory() => _app.CompactWatchHistory();

    public async ValueTask DisposeAsync()
    {
        if (!_stopped)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
