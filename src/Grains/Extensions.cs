using Inference.Grains.Gateway;
using Inference.Grains.Keys;
using Inference.Grains.Kubernetes;
using Inference.Grains.Models;
using Inference.Grains.Tenants;
using k8s;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Newtonsoft.Json;
using Orleans.Serialization;

namespace Inference.Grains;

public static class Extensions
{
    /// <summary>Registers what the grains call out to: the Kubernetes client and the clock. Needed wherever the
    /// API host reads the cluster directly too (readiness, admin views).</summary>
    public static IServiceCollection AddKubernetes(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<KubernetesOptions>()
            .Bind(configuration.GetSection(KubernetesOptions.Section))
            .Configure(o => o.Kubeconfig ??= configuration["KUBECONFIG"]);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IKubernetes>(sp => new k8s.Kubernetes(ClientConfiguration(sp.GetRequiredService<IOptions<KubernetesOptions>>().Value)));
        services.TryAddSingleton<IInferenceServices, InferenceServices>();
        services.AddOptions<GatewayOptions>().Bind(configuration.GetSection(GatewayOptions.Section));
        services.TryAddSingleton<IGatewayObjects, GatewayObjects>();
        return services;
    }

    /// <summary>Everything a silo hosting the grains needs beyond Orleans itself.</summary>
    public static IServiceCollection AddInferenceGrains(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddKubernetes(configuration);
        services.AddMetrics();
        services.TryAddSingleton<WatchMetrics>();
        services.AddHostedService<ClusterWatchService>();
        services.AddOptions<TenantQuotaOptions>().BindConfiguration(TenantQuotaOptions.Section)
            .Validate(o => o.IsValid, $"{TenantQuotaOptions.Section}: every quota must be at least 1")
            .ValidateOnStart();
        services.AddOptions<ModelStorageOptions>().BindConfiguration(ModelStorageOptions.Section)
            .Validate(o => o.IsValid,
                $"{ModelStorageOptions.Section}:AllowedHosts: each entry must be a host name, an IP address or a CIDR range")
            .ValidateOnStart();
        // Grain state is read with Newtonsoft.Json, which by default fills an object a property already holds
        // instead of creating one. A state class whose property starts as a shared instance (ModelState.Status =
        // ObservedStatus.Pending, the key's Usage = UsageCounters.Zero) would have that shared instance overwritten
        // by every state read, and every later model or key would start with another one's status or usage.
        services.Configure<OrleansJsonSerializerOptions>(o =>
            o.JsonSerializerSettings.ObjectCreationHandling = ObjectCreationHandling.Replace);
        return services;
    }

    private static KubernetesClientConfiguration ClientConfiguration(KubernetesOptions options)
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
