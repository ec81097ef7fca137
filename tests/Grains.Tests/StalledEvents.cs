using System.Collections.Concurrent;
using Inference.Grains.Abstractions.Events;

namespace Inference.Grains.Tests;

/// <summary>A grain call filter that records, or holds up, the event path of the tenants a test names, as a swamped
/// event path would: every <see cref="ITenantEventsGrain.PublishAsync"/> to such a tenant waits until the test lets it
/// go. The tenant's event grain takes one call at a time, so calls behind a held one are recorded (in the order the
/// grain takes them) only after it ends.</summary>
public sealed class StalledEvents : IIncomingGrainCallFilter
{
    private static readonly ConcurrentDictionary<string, Stall> Stalled = new(StringComparer.Ordinal);
    private static readonly ConcurrentDictionary<string, Recording> Recorded = new(StringComparer.Ordinal);

    /// <summary>Holds up the tenant's events until the returned stall is disposed.</summary>
    public static Stall Hold(string tenant) => Stalled[tenant] = new Stall(tenant);

    /// <summary>Records the events the tenant's event grain takes until the returned recording is disposed.</summary>
    public static Recording Record(string tenant) => Recorded[tenant] = new Recording(tenant);

    public sealed class Recording(string tenant) : IDisposable
    {
        public ConcurrentQueue<ChangeEvent> Events { get; } = new();

        public void Dispose() => Recorded.TryRemove(tenant, out _);
    }

    public async Task Invoke(IIncomingGrainCallContext context)
    {
        if (context.Grain is ITenantEventsGrain && Recorded.TryGetValue(context.TargetId.Key.ToString()!, out var rec)
            && context.Request.GetArgument(0) is ChangeEvent change)
        {
            rec.Events.Enqueue(change);
        }
        if (context.Grain is ITenantEventsGrain && context.TargetId.Key.ToString() is { } tenant
            && Stalled.TryGetValue(tenant, out var stall))
        {
            stall.Arrived.TrySetResult();
            await stall.Released.Task;
        }
        await context.Invoke();
    }

    public sealed class Stall(string tenant) : IDisposable
    {
        internal TaskCompletionSource Arrived { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        internal TaskCompletionSource Released { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Completes when the first event to the tenant is being held up.</summary>
        public Task FirstEventHeld => Arrived.Task;

        public void Dispose()
        {
            Stalled.TryRemove(tenant, out _);
            Released.TrySetResult();
        }
    }
}
