using KubeEmulator;
using Microsoft.AspNetCore.Builder;

namespace Inference.TestSupport;

/// <summary>The Kubernetes API emulator on a random loopback port, with a kubeconfig file for clients.</summary>
public sealed class EmulatorHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string _dir;

    private EmulatorHost(WebApplication app, string dir, string kubeconfig)
    {
        _app = app;
        _dir = dir;
        KubeconfigPath = kubeconfig;
    }

    public string KubeconfigPath { get; }

    public string BaseAddress => _app.BaseAddress();

    public static async Task<EmulatorHost> StartAsync(Action<EmulatorOptions>? configure = null)
    {
        var dir = Directory.CreateTempSubdirectory("kube-emulator-").FullName;
        var kubeconfig = Path.Combine(dir, "kubeconfig");
        var app = KubeEmulatorApp.Build([], o =>
        {
            o.Urls = "http://127.0.0.1:0";
            o.KubeconfigPath = kubeconfig;
            o.ReadyDelay = TimeSpan.FromMilliseconds(300);
            configure?.Invoke(o);
        });
        await app.StartAsync();
        await TestEnvironment.Eventually(() => Task.FromResult(File.Exists(kubeconfig)), x => x, what: "the emulator's kubeconfig");
        return new EmulatorHost(app, dir, kubeconfig);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
