using System.Text.Json;
using Inference.Grains.Abstractions;
using Inference.Grains.Abstractions.Models;
using Inference.Grains.Abstractions.Tenants;
using Inference.Grains.Models;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Inference.Shared.Models;

namespace Inference.Grains.Kubernetes;

/// <summary>Feeds InferenceService changes to their Model grains, stamped with the epoch of the watch lease they were
/// seen under.</summary>
public sealed class InferenceServiceWatchHandler(IGrainFactory grains, long epoch, WatchMetrics metrics, ILogger logger)
    : IResourceWatchHandler<JsonElement>
{
    public Task UpsertAsync(JsonElement item) =>
        grains.GetGrain<IModelGrain>(ModelKey(item) ?? throw new InvalidDataException(
                $"InferenceService {JsonSerializer.Serialize(ObjectKey(item))} cannot be a model: its namespace is not a DNS label or its name is not a valid model name"))
            .ObserveAsync(InferenceServiceParser.Parse(item), epoch);

    /// <summary>An object that could never be a model left no grain behind.</summary>
    public Task DeletedAsync(JsonElement item) =>
        ModelKey(item) is { } key
            ? grains.GetGrain<IModelGrain>(key).ObserveDeletedAsync(item.GetProperty("metadata").GetProperty("uid").GetString() ?? "", epoch)
            : Task.CompletedTask;

    public async Task RelistedAsync(IReadOnlyCollection<JsonElement> items, DateTimeOffset listedAt)
    {
        var present = items.Select(ObjectKey).ToHashSet(StringComparer.Ordinal);
        foreach (var tenant in await grains.GetGrain<ITenantDirectoryGrain>(0).ListAsync())
        {
            foreach (var name in await grains.GetGrain<ITenantGrain>(tenant).GetModelNamesAsync())
            {
                var key = GrainKeys.Scoped(tenant, name);
                if (present.Contains(key))
                {
                    continue;
                }
                try
                {
                    await grains.GetGrain<IModelGrain>(key).ObserveAbsentAsync(listedAt, epoch);
                }
                catch (Exception e)
                {
                    // One model that cannot record its absence must not cost the others theirs, nor the watch a
                    // re-list; the next list asks it again.
                    metrics.Failed();
                    logger.LogWarning(e, "Model {Key} could not record that its InferenceService is gone", key);
                }
            }
        }
    }

    /// <summary>namespace/name as the object names itself, whatever it holds.</summary>
    public static string ObjectKey(JsonElement item) =>
        item.TryGetProperty("metadata", out var metadata) && metadata.ValueKind == JsonValueKind.Object
            ? $"{Text(metadata, "namespace")}/{Text(metadata, "name")}"
            : "/";

    /// <summary>The Model grain's key, or null when the object's namespace or name could never be a model's (the
    /// API refuses such names, and a grain key must be valid for storage).</summary>
    private static string? ModelKey(JsonElement item)
    {
        if (!item.TryGetProperty("metadata", out var metadata) || metadata.ValueKind != JsonValueKind.Object)
        {
            return null;
        }
        var ns = Text(metadata, "namespace");
        var name = Text(metadata, "name");
        return ModelRules.IsNamespace(ns) && ModelRules.CheckName(name) is null ? GrainKeys.Scoped(ns!, name!) : null;
    }

    private static string? Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}

/// <summary>Feeds replica counts of KServe predictor Deployments to their Model grains, stamped with the epoch of the
/// watch lease they were seen under.</summary>
public sealed class PredictorDeploymentWatchHandler(IGrainFactory grains, long epoch) : IResourceWatchHandler<V1Deployment>
{
    public const string InferenceServiceLabel = "serving.kserve.io/inferenceservice";

    public Task UpsertAsync(V1Deployment item) =>
        Model(item) is { } model
            ? model.ObserveReplicasAsync(new ReplicaCounts(
                item.Spec?.Replicas ?? 0, item.Status?.ReadyReplicas ?? 0, item.Status?.Replicas ?? 0), epoch)
            : Task.CompletedTask;

    public Task DeletedAsync(V1Deployment item) =>
        Model(item)?.ObserveReplicasAsync(new ReplicaCounts(item.Spec?.Replicas ?? 0, 0, 0), epoch) ?? Task.CompletedTask;

    public Task RelistedAsync(IReadOnlyCollection<V1Deployment> items, DateTimeOffset listedAt) => Task.CompletedTask;

    /// <summary>Null for Deployments of no InferenceService, or of one that could never be a model.</summary>
    private IModelGrain? Model(V1Deployment item) =>
        item.Metadata?.Labels?.TryGetValue(InferenceServiceLabel, out var name) == true && item.Metadata.NamespaceProperty is { } ns
            && ModelRules.IsNamespace(ns) && ModelRules.CheckName(name) is null
            ? grains.GetGrain<IModelGrain>(GrainKeys.Scoped(ns, name))
            : null;
}
