namespace Inference.Grains.Abstractions.Models;

/// <summary>Decides which silo runs a cluster-wide watch, so the cluster holds one watch, not one per silo.
/// The lease expires unless renewed, so a dead holder is replaced within one lease period.
/// <para>Every grant to a new holder carries a larger epoch (a fencing token): an old holder may go on handing over
/// what it saw for a while after it lost the lease (it learns so only at its next renewal), and the grains it feeds
/// ignore hand-overs stamped with an epoch older than the newest they know of.</para></summary>
[Alias("inference.IWatchLeaseGrain")]
public interface IWatchLeaseGrain : IGrainWithStringKey
{
    /// <summary>The lease of the cluster's one watch of InferenceServices and predictor Deployments.</summary>
    public const string ClusterWatch = "cluster-watch";

    /// <summary>Grants or renews the lease: the holder's epoch, or null while another holds it. A renewal keeps the
    /// epoch; only a grant to another holder than the last one moves it on.</summary>
    [Alias("TryAcquireEpoch")]
    Task<long?> TryAcquireAsync(string candidate, TimeSpan lease);

    [Alias("Release")]
    Task ReleaseAsync(string holder);

    /// <summary>The last holder and its epoch (0: never granted): no hand-over can carry a newer one. Not interleaved
    /// with a grant, so it never shows an epoch whose write could still fail (and be granted again to someone
    /// else).</summary>
    [Alias("Get")]
    Task<WatchLeaseGrant> GetAsync();
}

[GenerateSerializer, Immutable, Alias("inference.WatchLeaseGrant")]
public sealed record WatchLeaseGrant([property: Id(0)] string? Holder, [property: Id(1)] long Epoch);
