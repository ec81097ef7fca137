namespace Inference.Shared.Kubernetes;

/// <summary>How this service names and labels what it owns in the cluster.</summary>
public sealed class KubernetesOptions
{
    public const string Section = "Kubernetes";

    /// <summary>Path of a kubeconfig file; unset means in-cluster configuration when running in a pod.</summary>
    public string? Kubeconfig { get; set; }

    /// <summary>Label that marks a namespace as a tenant (value "true") and a managed object's tenant (value = namespace).</summary>
    public string TenantLabel { get; set; } = "inference-in-a-box.io/tenant";

    public string ManagedByLabel { get; set; } = "app.kubernetes.io/managed-by";

    public string ManagedByValue { get; set; } = "inference-management";

    /// <summary>Bound on every call to the API server, so a hung server costs a request seconds, not minutes.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>First wait before the cluster watch retries an object whose handling failed; doubled per failure.</summary>
    public TimeSpan WatchRetryMin { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest wait between retries of one failing object.</summary>
    public TimeSpan WatchRetryMax { get; set; } = TimeSpan.FromMinutes(5);

    public string ManagedSelector => $"{ManagedByLabel}={ManagedByValue}";

    public string? Problem() =>
        string.IsNullOrWhiteSpace(TenantLabel) || string.IsNullOrWhiteSpace(ManagedByLabel) || string.IsNullOrWhiteSpace(ManagedByValue)
            ? $"{Section}__TenantLabel, {Section}__ManagedByLabel and {Section}__ManagedByValue must not be empty."
        : RequestTimeout <= TimeSpan.Zero ? $"{Section}__RequestTimeout must be positive (e.g. 00:00:15)."
        : WatchRetryMin <= TimeSpan.Zero || WatchRetryMax < WatchRetryMin
            ? $"{Section}__WatchRetryMin must be positive and {Section}__WatchRetryMax at least as long."
        : null;
}
