namespace Inference.ApiHost.Admin.Kubectl;

/// <summary>Section "Kubectl": the bounds every console command runs within.</summary>
public sealed class KubectlOptions
{
    public const string Section = "Kubectl";

    /// <summary>How long a command may wait for the API server before the caller gets 503.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Output beyond this is cut, with a line saying so (logs are read no further than this).</summary>
    public int MaxOutputChars { get; set; } = 256 * 1024;

    /// <summary>Namespaces beyond the tenants' and the service's own whose pods and logs the console shows; "*" for all.</summary>
    public List<string> Namespaces { get; set; } = [];

    /// <summary>The service's own namespace; in a pod, POD_NAMESPACE (set by the chart) names it.</summary>
    public string? ServiceNamespace { get; set; } = Environment.GetEnvironmentVariable("POD_NAMESPACE");

    public string? Problem() =>
        Timeout < TimeSpan.Zero ? $"{Section}__{nameof(Timeout)} must not be negative"
        : MaxOutputChars < 1 ? $"{Section}__{nameof(MaxOutputChars)} must be at least 1"
        : null;
}
