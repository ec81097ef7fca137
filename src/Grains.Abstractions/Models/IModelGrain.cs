namespace Inference.Grains.Abstractions.Models;

/// <summary>One model (KServe InferenceService) in one tenant; key <c>{namespace}/{name}</c>.</summary>
[Alias("inference.IModelGrain")]
public interface IModelGrain : IGrainWithStringKey
{
    [Alias("Create")]
    Task<Result<ModelView>> CreateAsync(ModelSpec spec);

    /// <summary>Always interleaved (it only reads memory), so a Published model grain asking for its model while
    /// that model is being deleted (which calls the publication) cannot deadlock.</summary>
    [Alias("Get"), AlwaysInterleave]
    Task<Result<ModelView>> GetAsync();

    [Alias("Update")]
    Task<Result<ModelView>> UpdateAsync(ModelSpecPatch patch);

    [Alias("Delete")]
    Task<Result<ModelView>> DeleteAsync();

    /// <summary>The cluster watch saw the InferenceService added or changed.</summary>
    [Alias("Observe")]
    Task ObserveAsync(InferenceServiceSnapshot snapshot);

    /// <summary>The cluster watch saw the predictor's Deployment change.</summary>
    [Alias("ObserveReplicas")]
    Task ObserveReplicasAsync(ReplicaCounts replicas);

    /// <summary>The cluster watch saw the InferenceService with this uid disappear.</summary>
    [Alias("ObserveDeleted")]
    Task ObserveDeletedAsync(string uid);

    /// <summary>A full list of the cluster started at <paramref name="listedAt"/> did not contain this model.
    /// A model recorded after the list started is kept: the list could not have seen it.</summary>
    [Alias("ObserveAbsent")]
    Task ObserveAbsentAsync(DateTimeOffset listedAt);
}
