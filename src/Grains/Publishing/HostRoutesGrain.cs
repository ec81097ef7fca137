using Inference.Grains.Abstractions;
using Inference.Grains.Abstractions.Publishing;

namespace Inference.Grains.Publishing;

[GenerateSerializer, Alias("inference.HostRoutesState")]
public sealed class HostRoutesState
{
    [Id(0)] public List<RouteClaim> Claims { get; set; } = [];
}

/// <summary>The routes held on one hostname. A claim is written before it is granted, so a granted route stays
/// taken across restarts and silo failures until its publication releases it.</summary>
public sealed class HostRoutesGrain(
    [PersistentState("routes", StorageNames.State)] IPersistentState<HostRoutesState> state) : Grain, IHostRoutesGrain
{
    private List<RouteClaim> Claims => state.State.Claims;

    public async Task<Result<bool>> ClaimAsync(RouteClaim claim)
    {
        if (Claims.Contains(claim))
        {
            return Result<bool>.Ok(true);
        }
        if (Claims.FirstOrDefault(held => !RouteClaims.SameOwner(held, claim) && RouteClaims.Overlap(held, claim)) is { } taken)
        {
            return RouteClaims.Conflict(this.GetPrimaryKeyString(), claim, taken);
        }
        Claims.Add(claim);
        await WriteAsync(undo: () => Claims.Remove(claim));
        return Result<bool>.Ok(true);
    }

    public async Task ReleaseAsync(RouteClaim claim)
    {
        if (Claims.Remove(claim))
        {
            await WriteAsync(undo: () => Claims.Add(claim));
        }
    }

    public Task<IReadOnlyList<RouteClaim>> ListAsync() => Task.FromResult<IReadOnlyList<RouteClaim>>([.. Claims]);

    /// <summary>When the write fails, the change is undone in memory (calls queued behind this one must not see a
    /// claim that may not be stored) and the activation is dropped, so later calls decide from what storage holds.</summary>
    private async Task WriteAsync(Action undo)
    {
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            undo();
            DeactivateOnIdle();
            throw;
        }
    }
}
