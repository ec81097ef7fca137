namespace Inference.ApiHost.Realtime;

/// <summary>What the /ws sockets of this host are doing; for operators and for tests that check memory stays
/// bounded.</summary>
public sealed class RealtimeStats
{
    private int _open;
    private long _slowConsumersDisconnected;
    private int _peakQueueDepth;

    public int OpenSockets => Volatile.Read(ref _open);

    public long SlowConsumersDisconnected => Interlocked.Read(ref _slowConsumersDisconnected);

    /// <summary>The most messages any socket ever had waiting; never above the configured capacity.</summary>
    public int PeakQueueDepth => Volatile.Read(ref _peakQueueDepth);

    internal void Opened() => Interlocked.Increment(ref _open);

    internal void Closed() => Interlocked.Decrement(ref _open);

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
