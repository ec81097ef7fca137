using System.Text.Json;
using Inference.Grains.Abstractions;
using Inference.Grains.Abstractions.Models;
using Inference.Grains.Abstractions.Tenants;
using k8s.Models;

namespace Inference.Grains.Kubernetes;

/// <summary>Feeds InferenceService changes to their Model grains.</summary>
public sealed class InferenceServiceWatchHandler(IGrainFactory grains) : IResourceWatchHandler<JsonElement>
{
    public Task UpsertAsync(JsonElement item) =>
        Model(item).ObserveAsync(InferenceServiceParser.Parse(item));

    public Task DeletedAsync(JsonElement item) =>
        Model(item).ObserveDeletedAsync(item.GetProperty("metadata").GetProperty("uid").GetString() ?? "");

    public async Task RelistedAsync(IReadOnlyCollection<JsonElement> items, DateTimeOffset listedAt)
    {
        var present = items.Select(Key).ToHashSet(StringComparer.Ordinal);
        foreach (var tenant in await grains.GetGrain<ITenantDirectoryGrain>(0).ListAsync())
        {
            foreach (var name in await grains.GetGrain<ITenantGrain>(tenant).GetModelNamesAsync())
            {
                var key = GrainKeys.Scoped(tenant, name);
                if (!present.Contains(key))
                {
                    await grains.GetGrain<IModelGrain>(key).ObserveAbsentAsync(listedAt);
                }
            }
        }
    }

    private IModelGrain Model(JsonElement item) => grains.GetGrain<IModelGrain>(Key(item));

    private static string Key(JsonElement item)
    {
        var metadata = item.GetProperty("metadata");
        return GrainKeys.Scoped(metadata.GetProperty("namespace").GetString()!, metadata.GetProperty("name").GetString()!);
    }
}

/// <summary>Feeds replica counts of KServe predictor Deployments to their Model grains.</summary>
public sealed class PredictorDeploymentWatchHandler(IGrainFactory grains) : IResourceWatchHandler<V1Deployment>
{
    public const string InferenceServiceLabel = "serving.kserve.io/inferenceservice";

    public Task UpsertAsync(V1Deployment item) =>
        Model(item) is { } model
            ? model.ObserveReplicasAsync(new ReplicaCounts(
                item.Spec?.Replicas ?? 0, item.Status?.ReadyReplicas ?? 0, item.Status?.Replicas ?? 0))
            : Task.CompletedTask;

    public Task DeletedAsync(V1Deployment item) =>
        Model(item)?.ObserveReplicasAsync(new ReplicaCounts(item.Spec?.Replicas ?? 0, 0, 0)) ?? Task.CompletedTask;

    public Task RelistedAsync(IReadOnlyCollection<V1Deployment> items, DateTimeOffset listedAt) => Task.CompletedTask;

    private IModelGrain? Model(V1Deployment item) =>
        item.Metadata?.Labels?.TryGetValue(InferenceServiceLabel, out var name) == true && item.Metadata.NamespaceProperty is { } ns
            ? grains.GetGrain<IModelGrain>(GrainKeys.Scoped(ns, name))
            : null;
}
