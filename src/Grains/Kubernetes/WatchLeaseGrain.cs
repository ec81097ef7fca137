using Inference.Grains.Abstractions.Models;

namespace Inference.Grains.Kubernetes;

/// <summary>The holder and its epoch are stored, and written only when the holder changes (rarely: a silo's death, a
/// restart, a lapsed lease), so that the epoch keeps growing when this grain activates again elsewhere. The expiry is
/// not stored: after a re-activation the lease counts as lapsed and the first candidate to ask takes it (the last
/// holder keeps its epoch if that is itself), as quickly as before the epoch existed; a holder that is still running
/// meanwhile finds out at its next renewal, and its late hand-overs are fenced by the newer epoch.</summary>
public sealed class WatchLeaseGrain(
    [PersistentState("watch-lease", StorageNames.State)] IPersistentState<WatchLeaseState> state,
    TimeProvider time) : Grain, IWatchLeaseGrain
{
    private DateTimeOffset _expires = DateTimeOffset.MinValue;

    public async Task<long?> TryAcquireAsync(string candidate, TimeSpan lease)
    {
        var now = time.GetUtcNow();
        var current = state.State;
        if (current.Holder != candidate)
        {
            if (current.Holder is not null && _expires >= now)
            {
                return null;
            }
            // Stored before it is granted: an epoch handed out and then lost with this activation could be handed
            // out again, to another holder.
            var previous = (current.Holder, current.Epoch);
            (current.Holder, current.Epoch) = (candidate, current.Epoch + 1);
            try
            {
                await state.WriteStateAsync();
            }
            catch
            {
                // Storage may hold a write of another activation (an etag conflict): the next call reads it afresh.
                (current.Holder, current.Epoch) = previous;
                DeactivateOnIdle();
                throw;
            }
        }
        _expires = now + lease;
        return current.Epoch;
    }

    /// <summary>The holder stays recorded (its epoch is kept should it come back first); its lease ends now.</summary>
    public Task ReleaseAsync(string holder)
    {
        if (state.State.Holder == holder)
        {
            _expires = DateTimeOffset.MinValue;
        }
        return Task.CompletedTask;
    }

    public Task<WatchLeaseGrant> GetAsync() => Task.FromResult(new WatchLeaseGrant(state.State.Holder, state.State.Epoch));
}

[GenerateSerializer, Alias("inference.WatchLeaseState")]
public sealed class WatchLeaseState
{
    [Id(0)] public string? Holder { get; set; }

    /// <summary>The number of grants to a new holder so far: the current holder's epoch.</summary>
    [Id(1)] public long Epoch { get; set; }
}
