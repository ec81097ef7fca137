using KubeEmulator.Controller;
using KubeEmulator.Hosting;
using KubeEmulator.Http;
using KubeEmulator.OpenApi;
using KubeEmulator.Resources;
using KubeEmulator.Serving;
using KubeEmulator.Store;

namespace KubeEmulator;

/// <summary>
/// Builds the Kubernetes API emulator: a test and demo stand-in for kube-apiserver plus a simulated KServe
/// controller and model server. It is not a cluster; it only makes the API behave like one.
/// </summary>
public static class KubeEmulatorApp
{
    public static WebApplication Build(string[] args, Action<EmulatorOptions>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            ApplicationName = typeof(KubeEmulatorApp).Assembly.GetName().Name,
        });
        var options = ReadOptions(builder.Configuration);
        configure?.Invoke(options);
        builder.WebHost.UseUrls(options.Urls);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);

        var services = builder.Services;
        services.AddSingleton(options);
        services.AddSingleton<ResourceRegistry>();
        services.AddSingleton(_ => new WatchHub(options.WatchHistoryLimit));
        services.AddSingleton<ResourceStore>();
        services.AddSingleton<PodLogs>();
        services.AddSingleton<EmulatorAddress>();
        services.AddSingleton<Discovery>();
        services.AddSingleton<WatchStreamer>();
        services.AddSingleton<ResourceEndpoints>();
        services.AddSingleton<ModelServer>();
        services.AddSingleton<OpenApiDocuments>();
        services.AddSingleton<OpenApiEndpoints>();
        services.AddHostedService<KServeController>();
        if (options.DataFile is not null) services.AddHostedService<DataFilePersistence>();

        var app = builder.Build();
        var store = app.Services.GetRequiredService<ResourceStore>();
        var registry = app.Services.GetRequiredService<ResourceRegistry>();
        if (options.DataFile is not null) DataFilePersistence.Load(store, registry, options.DataFile);
        if (options.SeedDemo) DemoSeed.Apply(store, registry, options);

        app.MapGet("/version", () => Results.Json(KubeVersion.Info()));
        foreach (var probe in new[] { "/healthz", "/readyz", "/livez" })
            app.MapGet(probe, () => Results.Text("ok"));
        app.Services.GetRequiredService<ResourceEndpoints>().Map(app);
        app.Services.GetRequiredService<ModelServer>().Map(app);
        app.Services.GetRequiredService<OpenApiEndpoints>().Map(app);

        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var baseAddress = app.BaseAddress();
            app.Logger.LogWarning(
                "Kubernetes API EMULATOR (a test/demo tool, not a real cluster) listening on {Address}; simulated KServe controller active (ReadyDelay {Delay})",
                baseAddress, options.ReadyDelay);
            if (options.KubeconfigPath is not null)
            {
                KubeconfigWriter.Write(options.KubeconfigPath, baseAddress);
                app.Logger.LogInformation("Wrote kubeconfig for the emulator to {Path}", options.KubeconfigPath);
            }
        });
        return app;
    }

    /// <summary>The address the emulator is reachable at, e.g. "http://127.0.0.1:41234"; valid after StartAsync.</summary>
    public static string BaseAddress(this WebApplication app) =>
        app.Services.GetRequiredService<EmulatorAddress>().BaseUrl;

    /// <summary>Compacts the emulator's history as etcd compaction does: every open watch ends with an ERROR event
    /// carrying 410 Expired, and resuming from any version up to now gets the same, so clients must list again.
    /// Returns the compacted resourceVersion.</summary>
    public static long CompactWatchHistory(this WebApplication app) =>
        app.Services.GetRequiredService<ResourceStore>().Compact();

    /// <summary>
    /// Options from configuration: the "Emulator" section, then the short command-line switches
    /// (--urls, --kubeconfig, --data, --ready-delay, --seed-demo, --tenant-label, --watch-history, --bookmark-interval).
    /// </summary>
    private static EmulatorOptions ReadOptions(IConfiguration config)
    {
        var options = new EmulatorOptions();
        config.GetSection("Emulator").Bind(options);
        if (config["urls"] is { Length: > 0 } urls) options.Urls = urls;
        if (config["kubeconfig"] is { Length: > 0 } kubeconfig) options.KubeconfigPath = kubeconfig;
        if (config["data"] is { Length: > 0 } data) options.DataFile = data;
        if (config["tenant-label"] is { Length: > 0 } label) options.TenantLabel = label;
        if (bool.TryParse(config["seed-demo"], out var seed)) options.SeedDemo = seed;
        if (double.TryParse(config["ready-delay"], System.Globalization.CultureInfo.InvariantCulture, out var delay))
            options.ReadyDelay = TimeSpan.FromSeconds(delay);
        if (double.TryParse(config["bookmark-interval"], System.Globalization.CultureInfo.InvariantCulture, out var bookmark))
            options.BookmarkInterval = TimeSpan.FromSeconds(bookmark);
        if (int.TryParse(config["watch-history"], out var history)) options.WatchHistoryLimit = history;
        return options;
    }
}
