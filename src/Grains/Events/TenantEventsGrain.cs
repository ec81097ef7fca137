using Inference.Grains.Abstractions.Events;
using Orleans.Streams;

namespace Inference.Grains.Events;

[GenerateSerializer, Alias("inference.TenantEventsState")]
public sealed class TenantEventsState
{
    /// <summary>Every sequence number below this may have been handed out already.</summary>
    [Id(0)] public long Reserved { get; set; } = 1;
}

/// <summary>Numbers and publishes one tenant's change events. Sequence numbers are assigned here rather than by
/// the publishing grains because the stream has many publishers (every model, publication and key of the tenant)
/// and only one place can keep a per-stream counter strictly increasing; being a single non-reentrant activation,
/// it also publishes in the order it numbers. The counter is persisted in blocks: a new activation (after
/// deactivation or a silo's death) starts above every number a previous one could have used, so numbers may skip
/// but never repeat or go back, at the cost of one storage write per <see cref="Block"/> events.</summary>
public sealed class TenantEventsGrain(
    [PersistentState("events", StorageNames.State)] IPersistentState<TenantEventsState> state) : Grain, ITenantEventsGrain
{
    public const long Block = 1000;

    private long _next;
    private IAsyncStream<ChangeEvent> _tenantStream = null!;
    private IAsyncStream<ChangeEvent> _allStream = null!;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _next = state.State.Reserved;
        var provider = this.GetStreamProvider(ChangeStreams.Provider);
        _tenantStream = provider.GetStream<ChangeEvent>(StreamId.Create(ChangeStreams.Namespace, this.GetPrimaryKeyString()));
        _allStream = provider.GetStream<ChangeEvent>(StreamId.Create(ChangeStreams.Namespace, ChangeStreams.AllTenants));
        return Task.CompletedTask;
    }

    public async Task<long> PublishAsync(ChangeEvent change)
    {
        if (_next >= state.State.Reserved)
        {
            state.State.Reserved = _next + Block;
            await state.WriteStateAsync();
        }
        var numbered = change with { Tenant = this.GetPrimaryKeyString(), Sequence = _next++ };
        await _tenantStream.OnNextAsync(numbered);
        await _allStream.OnNextAsync(numbered);
        return numbered.Sequence;
    }
}
