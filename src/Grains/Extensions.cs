using Inference.Grains.Gateway;
using Inference.Grains.Keys;
using Inference.Grains.Kubernetes;
using Inference.Shared;
using Inference.Shared.Kubernetes;
using Inference.Shared.Models;
using Inference.Grains.Tenants;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Newtonsoft.Json;
using Orleans.Serialization;

namespace Inference.Grains;

public static class Extensions
{
    /// <summary>Registers what the grains call out to: the Kubernetes client, the clock, the cluster objects they write.</summary>
    public static IServiceCollection AddKubernetes(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddKubernetesClient(configuration);
        services.TryAddSingleton<IInferenceServices, InferenceServices>();
        services.AddSettings<GatewayOptions>(GatewayOptions.Section, o => o.Problem());
        services.TryAddSingleton<IGatewayObjects, GatewayObjects>();
        return services;
    }

    /// <summary>Everything a silo hosting the grains needs beyond Orleans itself.</summary>
    public static IServiceCollection AddInferenceGrains(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddKubernetes(configuration);
        services.AddMetrics();
        services.TryAddSingleton<WatchMetrics>();
        services.TryAddSingleton<Telemetry.ServiceMetrics>();
        services.AddHostedService<ClusterWatchService>();
        services.AddSettings<TenantQuotaOptions>(TenantQuotaOptions.Section, o => o.Problem());
        services.AddSettings<ModelStorageOptions>(ModelStorageOptions.Section, o => o.Problem());
        // Grain state is read with Newtonsoft.Json, which by default fills an object a property already holds
        // instead of creating one. A state class whose property starts as a shared instance (ModelState.Status =
        // ObservedStatus.Pending, the key's Usage = UsageCounters.Zero) would have that shared instance overwritten
        // by every state read, and every later model or key would start with another one's status or usage.
        services.Configure<OrleansJsonSerializerOptions>(o =>
            o.JsonSerializerSettings.ObjectCreationHandling = ObjectCreationHandling.Replace);
        return services;
    }
}
