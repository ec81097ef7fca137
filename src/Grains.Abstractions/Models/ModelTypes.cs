using Inference.Grains.Abstractions.Events;

namespace Inference.Grains.Abstractions.Models;

/// <summary>The desired predictor of a model, as the API accepts it and as it is written to the InferenceService.</summary>
[GenerateSerializer, Immutable, Alias("inference.ModelSpec")]
public sealed record ModelSpec(
    [property: Id(0)] string Framework,
    [property: Id(1)] string StorageUri,
    [property: Id(2)] int? MinReplicas = null,
    [property: Id(3)] int? MaxReplicas = null,
    [property: Id(4)] int? ScaleTarget = null,
    [property: Id(5)] string? ScaleMetric = null);

/// <summary>A partial update: null means "leave as it is".</summary>
[GenerateSerializer, Immutable, Alias("inference.ModelSpecPatch")]
public sealed record ModelSpecPatch(
    [property: Id(0)] string? Framework = null,
    [property: Id(1)] string? StorageUri = null,
    [property: Id(2)] int? MinReplicas = null,
    [property: Id(3)] int? MaxReplicas = null,
    [property: Id(4)] int? ScaleTarget = null,
    [property: Id(5)] string? ScaleMetric = null)
{
    public ModelSpec ApplyTo(ModelSpec spec) => new(
        Framework ?? spec.Framework,
        StorageUri ?? spec.StorageUri,
        MinReplicas ?? spec.MinReplicas,
        MaxReplicas ?? spec.MaxReplicas,
        ScaleTarget ?? spec.ScaleTarget,
        ScaleMetric ?? spec.ScaleMetric);
}

[GenerateSerializer, Immutable, Alias("inference.ModelCondition")]
public sealed record ModelCondition(
    [property: Id(0)] string Type,
    [property: Id(1)] string Status,
    [property: Id(2)] string? Reason,
    [property: Id(3)] string? Message,
    [property: Id(4)] DateTimeOffset? LastTransitionTime);

[GenerateSerializer, Immutable, Alias("inference.ReplicaCounts")]
public sealed record ReplicaCounts(
    [property: Id(0)] int Desired,
    [property: Id(1)] int Ready,
    [property: Id(2)] int Total);

/// <summary>What Kubernetes last said about a model's InferenceService.</summary>
[GenerateSerializer, Immutable, Alias("inference.ObservedStatus")]
public sealed record ObservedStatus(
    [property: Id(0)] bool Ready,
    [property: Id(1)] string? Url,
    [property: Id(2)] IReadOnlyList<ModelCondition> Conditions,
    [property: Id(3)] string? ResourceVersion,
    [property: Id(4)] long? ObservedGeneration)
{
    public static readonly ObservedStatus Pending = new(false, null, [], null, null);

    /// <summary>By value, conditions included: a record compares a list by reference, so a status read again (every
    /// re-list after a restart) looked changed, and every model was written, re-dated and announced again.</summary>
    public bool Equals(ObservedStatus? other) =>
        other is not null && Ready == other.Ready && Url == other.Url && ResourceVersion == other.ResourceVersion
        && ObservedGeneration == other.ObservedGeneration && Conditions.SequenceEqual(other.Conditions);

    public override int GetHashCode() => HashCode.Combine(Ready, Url, ResourceVersion, ObservedGeneration, Conditions.Count);
}

/// <summary>An InferenceService as the cluster watch saw it; the Model grain adopts or refreshes from it.</summary>
[GenerateSerializer, Immutable, Alias("inference.InferenceServiceSnapshot")]
public sealed record InferenceServiceSnapshot(
    [property: Id(0)] string Uid,
    [property: Id(1)] ModelSpec Spec,
    [property: Id(2)] ObservedStatus Status,
    [property: Id(3)] DateTimeOffset CreatedAt,
    [property: Id(4)] long Generation)
{
    /// <summary>The object has a deletionTimestamp: it is on its way out and must not be adopted.</summary>
    [Id(5)] public bool Deleting { get; init; }
}

/// <summary>A model as the REST API and the change stream show it.</summary>
[GenerateSerializer, Immutable, Alias("inference.ModelView")]
public sealed record ModelView(
    [property: Id(0)] string Name,
    [property: Id(1)] string Namespace,
    [property: Id(2)] string Status,
    [property: Id(3)] bool Ready,
    [property: Id(4)] string? Url,
    [property: Id(5)] ModelSpec Predictor,
    [property: Id(6)] DateTimeOffset CreatedAt,
    [property: Id(7)] DateTimeOffset UpdatedAt,
    [property: Id(8)] string Phase,
    [property: Id(9)] ReplicaCounts Replicas,
    [property: Id(10)] IReadOnlyList<ModelCondition> Conditions) : ChangeResource;
