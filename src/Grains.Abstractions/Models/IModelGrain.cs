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

    // The Observe* calls come from the holder of the cluster watch lease and carry its epoch (a fencing token, see
    // IWatchLeaseGrain): a call from an older epoch than the newest the grain knows of is ignored. Their aliases name
    // the stamped signatures, so that during a rolling upgrade a call between versions with and without the stamp
    // fails (and the watch retries it) instead of being read as epoch 0 and fenced for good.

    /// <summary>The cluster watch saw the InferenceService added or changed.</summary>
    [Alias("Observe.Epoch")]
    Task ObserveAsync(InferenceServiceSnapshot snapshot, long epoch);

    /// <summary>The cluster watch saw the predictor's Deployment change.</summary>
    [Alias("ObserveReplicas.Epoch")]
    Task ObserveReplicasAsync(ReplicaCounts replicas, long epoch);

    /// <summary>The cluster watch saw the InferenceService with this uid disappear.</summary>
    [Alias("ObserveDeleted.Epoch")]
    Task ObserveDeletedAsync(string uid, long epoch);

    /// <summary>A full list of the cluster started at <paramref name="listedAt"/> did not contain this model.
    /// A model recorded after the list started is kept: the list could not have seen it.</summary>
    [Alias("ObserveAbsent.Epoch")]
    Task ObserveAbsentAsync(DateTimeOffset listedAt, long epoch);
}
