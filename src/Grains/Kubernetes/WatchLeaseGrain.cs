using Inference.Grains.Abstractions.Models;

namespace Inference.Grains.Kubernetes;

/// <summary>Lease state is deliberately in memory: if this grain's silo dies, the next candidate to ask takes the
/// lease, and the old holder finds out at its next renewal.</summary>
public sealed class WatchLeaseGrain(TimeProvider time) : Grain, IWatchLeaseGrain
{
    private string? _holder;
    private DateTimeOffset _expires;

    public Task<bool> TryAcquireAsync(string candidate, TimeSpan lease)
    {
        var now = time.GetUtcNow();
        if (_holder is null || _holder == candidate || _expires < now)
        {
            _holder = candidate;
            _expires = now + lease;
            return Task.FromResult(true);
        }
        return Task.FromResult(false);
    }

    public Task ReleaseAsync(string holder)
    {
        if (_holder == holder)
        {
            _holder = null;
        }
        return Task.CompletedTask;
    }
}
