using System.Collections.Concurrent;
using System.Net;

namespace Inference.ApiHost.Http;

/// <summary>Failures (or attempts) per source address: a <see cref="WindowCounter{TKey}"/> keyed by address. The one
/// mechanism behind every "too many failures from this source" answer: failed logins, failed key validations.</summary>
public sealed class FailureCounter(int limitPerMinute, TimeProvider time, int maxTrackedSources = 50_000)
    : WindowCounter<IPAddress>(limitPerMinute, time, maxTrackedSources);

/// <summary>Counts events per key (a source address, a caller) in fixed one-minute windows, in memory, per API host.
/// A key never counted never allocates here.
/// <para>Bounded without ever failing open: when <c>maxTrackedSources</c> sources are tracked, the one counted
/// least recently is forgotten to make room, in constant time (no request scans the table). A source is refused
/// at most until its window ends, however often it tries meanwhile, so nobody is locked out for longer than one
/// window.</para></summary>
public class WindowCounter<TKey>(int limitPerMinute, TimeProvider time, int maxTrackedSources = 50_000) where TKey : notnull
{
    private static readonly long Window = TimeSpan.TicksPerMinute;

    // Reads (RetryAfter, on every key validation) stay lock-free; every change of the table and its order is made
    // under _order's lock, so the dictionary and the eviction order never disagree.
    private readonly ConcurrentDictionary<TKey, Counter> _counters = new();
    private readonly LinkedList<Counter> _order = new(); // least recently counted first

    private sealed class Counter(TKey source, long start)
    {
        public readonly TKey Source = source;
        public long Start = start;
        public int Count;
        public LinkedListNode<Counter>? Node;
    }

    public int Limit => limitPerMinute;

    /// <summary>How many sources are tracked now; never above the bound.</summary>
    public int TrackedSources => _counters.Count;

    /// <summary>Seconds until the source may try again, or 0 when it may try now.</summary>
    public int RetryAfter(TKey source, out int remaining)
    {
        remaining = limitPerMinute;
        if (!_counters.TryGetValue(source, out var c))
        {
            return 0;
        }
        var now = time.GetUtcNow().UtcTicks;
        var start = Interlocked.Read(ref c.Start);
        if (now - start >= Window)
        {
            return 0;
        }
        var count = Volatile.Read(ref c.Count);
        remaining = Math.Max(0, limitPerMinute - count);
        return count >= limitPerMinute ? Seconds(start, now) : 0;
    }

    /// <summary>Counts a failure that has already happened.</summary>
    public void Failed(TKey source)
    {
        lock (_order)
        {
            var (c, _) = Current(source);
            c.Count++;
        }
    }

    /// <summary>Counts an attempt before it is made, atomically with the decision: true when it is within the
    /// limit (and now counted); false with the seconds to wait when it is not. A refused attempt is not counted,
    /// so trying harder never extends the wait.</summary>
    public bool TryAttempt(TKey source, out int retryAfterSeconds)
    {
        lock (_order)
        {
            var (c, now) = Current(source);
            if (c.Count >= limitPerMinute)
            {
                retryAfterSeconds = Seconds(c.Start, now);
                return false;
            }
            c.Count++;
            retryAfterSeconds = 0;
            return true;
        }
    }

    public void Reset(TKey source)
    {
        lock (_order)
        {
            if (_counters.TryRemove(source, out var c) && c.Node is not null)
            {
                _order.Remove(c.Node);
            }
        }
    }

    /// <summary>The source's counter in its current window, made the most recently counted. Under the lock.</summary>
    private (Counter Counter, long Now) Current(TKey source)
    {
        var now = time.GetUtcNow().UtcTicks;
        if (_counters.TryGetValue(source, out var c))
        {
            _order.Remove(c.Node!);
            _order.AddLast(c.Node!);
            if (now - c.Start >= Window)
            {
                Interlocked.Exchange(ref c.Start, now);
                Volatile.Write(ref c.Count, 0);
            }
            return (c, now);
        }
        while (_counters.Count >= Math.Max(1, maxTrackedSources) && _order.First is { } oldest)
        {
            _order.RemoveFirst();
            _counters.TryRemove(oldest.Value.Source, out _);
        }
        c = new Counter(source, now);
        c.Node = _order.AddLast(c);
        _counters[source] = c;
        return (c, now);
    }

    private static int Seconds(long start, long now) =>
        (int)Math.Max(1, (start + Window - now + TimeSpan.TicksPerSecond - 1) / TimeSpan.TicksPerSecond);
}
