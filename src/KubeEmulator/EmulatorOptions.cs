namespace KubeEmulator;

/// <summary>Settings of one emulator instance. Command-line switches and configuration map onto these.</summary>
public sealed class EmulatorOptions
{
    /// <summary>Listen address; "http://127.0.0.1:0" picks a free port (see <see cref="KubeEmulatorApp.BaseAddress"/>).</summary>
    public string Urls { get; set; } = "http://127.0.0.1:8086";

    /// <summary>Seed the demo cluster: tenant namespaces, system namespaces and two nodes.</summary>
    public bool SeedDemo { get; set; } = true;

    /// <summary>Label that marks tenant namespaces (value "true").</summary>
    public string TenantLabel { get; set; } = "inference-in-a-box.io/tenant";

    /// <summary>Simulated KServe controller: time until an InferenceService becomes Ready.</summary>
    public TimeSpan ReadyDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Watch events kept for resuming; a watch from an older resourceVersion gets 410 Expired.</summary>
    public int WatchHistoryLimit { get; set; } = 1000;

    /// <summary>Interval between BOOKMARK events on watches that ask for them.</summary>
    public TimeSpan BookmarkInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>When set, a kubeconfig pointing at the bound address is written here once listening.</summary>
    public string? KubeconfigPath { get; set; }

    /// <summary>When set, the store is loaded from this JSON file on start and saved periodically and on shutdown.</summary>
    public string? DataFile { get; set; }
}
