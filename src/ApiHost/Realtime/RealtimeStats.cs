using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Inference.ApiHost.Realtime;

/// <summary>What the /ws sockets of this host are doing, and the bounds on how many there may be (per user, per
/// host); for operators and for tests that check memory stays bounded.</summary>
public sealed class RealtimeStats
{
    public enum Admission
    {
        Admitted,
        UserFull,
        HostFull,
    }

    private readonly ConcurrentDictionary<string, int> _perUser = new();
    private int _open;
    private long _slowConsumersDisconnected;
    private int _peakQueueDepth;

    public const string MeterName = "Inference.Realtime";

    public RealtimeStats(IMeterFactory meters)
    {
        var meter = meters.Create(MeterName);
        meter.CreateObservableGauge("inference.websocket.connections", () => OpenSockets, "{connection}", "Open /ws sockets on this host");
        meter.CreateObservableCounter("inference.websocket.slow_clients_dropped", () => SlowConsumersDisconnected, "{connection}",
            "Sockets closed because their client did not keep up with its events");
    }

    public int OpenSockets => Volatile.Read(ref _open);

    public long SlowConsumersDisconnected => Interlocked.Read(ref _slowConsumersDisconnected);

    /// <summary>The most messages any socket ever had waiting; never above the configured capacity.</summary>
    public int PeakQueueDepth => Volatile.Read(ref _peakQueueDepth);

    /// <summary>Takes a socket slot for <paramref name="user"/> when both bounds allow; every admitted socket
    /// must be given back with <see cref="Closed"/>.</summary>
    internal Admission TryOpen(string user, RealtimeOptions options)
    {
        if (Interlocked.Increment(ref _open) > options.MaxSocketsPerHost)
        {
            Interlocked.Decrement(ref _open);
            return Admission.HostFull;
        }
        var admitted = true;
        _perUser.AddOrUpdate(user, 1, (_, n) =>
        {
            admitted = n < options.MaxSocketsPerUser;
            return admitted ? n + 1 : n;
        });
        if (!admitted)
        {
            Interlocked.Decrement(ref _open);
            return Admission.UserFull;
        }
        return Admission.Admitted;
    }

    internal void Closed(string user)
    {
        Interlocked.Decrement(ref _open);
        // Removes the user's entry only when it drops to zero, so the table holds users with open sockets only.
        while (_perUser.TryGetValue(user, out var n))
        {
            if (n <= 1 ? _perUser.TryRemove(new KeyValuePair<string, int>(user, n)) : _perUser.TryUpdate(user, n - 1, n))
            {
                return;
            }
        }
    }

    internal void SlowConsumerDisconnected() => Interlocked.Increment(ref _slowConsumersDisconnected);

    internal void ObserveDepth(int depth)
    {
        var peak = Volatile.Read(ref _peakQueueDepth);
        while (depth > peak)
        {
            var seen = Interlocked.CompareExchange(ref _peakQueueDepth, depth, peak);
            if (seen == peak)
            {
                return;
            }
            peak = seen;
        }
    }
}
