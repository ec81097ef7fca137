using k8s;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Inference.Shared.Kubernetes;

public static class KubernetesClientSetup
{
    /// <summary>The Kubernetes client and the clock, for the grains and for an API host that reads the cluster itself
    /// (readiness, admin views, the kubectl console).</summary>
    public static IServiceCollection AddKubernetesClient(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSettings<KubernetesOptions>(KubernetesOptions.Section, o => o.Problem())
            .Configure(o => o.Kubeconfig ??= configuration["KUBECONFIG"]);
        services.TryAddSingleton(TimeProvider.System);
        // Every call timed by verb and outcome (KubernetesCallMetrics) wherever the host has metrics, as hosts do;
        // every watch given up closes its connection (KubernetesWatchStreams).
        services.TryAddSingleton<IKubernetes>(sp =>
        {
            var configuration = ClientConfiguration(sp.GetRequiredService<IOptions<KubernetesOptions>>().Value);
            return sp.GetService<System.Diagnostics.Metrics.IMeterFactory>() is { } meters
                ? new k8s.Kubernetes(configuration, new KubernetesCallMetrics(meters), new KubernetesWatchStreams())
                : new k8s.Kubernetes(configuration, new KubernetesWatchStreams());
        });
        return services;
    }

    /// <summary>The cluster every Kubernetes client of the service talks to: KUBECONFIG when set, else the pod's
    /// service account (in-cluster). Orleans' Kubernetes hosting in the silo uses it too.</summary>
    public static KubernetesClientConfiguration ClientConfiguration(KubernetesOptions options)
    {
        if (!string.IsNullOrEmpty(options.Kubeconfig))
        {
            return KubernetesClientConfiguration.BuildConfigFromConfigFile(options.Kubeconfig);
        }
        if (KubernetesClientConfiguration.IsInCluster())
        {
            return KubernetesClientConfiguration.InClusterConfig();
        }
        throw new InvalidOperationException(
            "No Kubernetes cluster configured: set KUBECONFIG (./box up starts the bundled emulator and sets it).");
    }
}
