namespace Inference.Grains.Abstractions.Models;

/// <summary>Decides which silo runs a cluster-wide watch, so the cluster holds one watch, not one per silo.
/// The lease expires unless renewed, so a dead holder is replaced within one lease period.</summary>
[Alias("inference.IWatchLeaseGrain")]
public interface IWatchLeaseGrain : IGrainWithStringKey
{
    [Alias("TryAcquire")]
    Task<bool> TryAcquireAsync(string candidate, TimeSpan lease);

    [Alias("Release")]
    Task ReleaseAsync(string holder);
}
