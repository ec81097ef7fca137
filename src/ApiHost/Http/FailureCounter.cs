using System.Collections.Concurrent;
using System.Net;

namespace Inference.ApiHost.Http;

/// <summary>Counts failures per source address in fixed one-minute windows, in memory, per API host, bounded in
/// size (expired windows are swept when it grows). The one mechanism behind every "too many failures from this
/// source" answer: failed logins, failed key validations. A success never allocates here.</summary>
public sealed class FailureCounter(int limitPerMinute, TimeProvider time, int maxTrackedSources = 50_000)
{
    private static readonly long Window = TimeSpan.TicksPerMinute;

    private readonly ConcurrentDictionary<IPAddress, Counter> _failures = new();

    private sealed class Counter(long start)
    {
        public long Start = start;
        public int Count;
    }

    public int Limit => limitPerMinute;

    /// <summary>Seconds until the source may try again, or 0 when it may try now.</summary>
    public int RetryAfter(IPAddress source, out int remaining)
    {
        remaining = limitPerMinute;
        if (!_failures.TryGetValue(source, out var c))
        {
            return 0;
        }
        var now = time.GetUtcNow().UtcTicks;
        if (now - c.Start >= Window)
        {
            return 0;
        }
        var count = Volatile.Read(ref c.Count);
        remaining = Math.Max(0, limitPerMinute - count);
        return count >= limitPerMinute ? (int)Math.Max(1, (c.Start + Window - now + TimeSpan.TicksPerSecond - 1) / TimeSpan.TicksPerSecond) : 0;
    }

    public void Failed(IPAddress source)
    {
        var now = time.GetUtcNow().UtcTicks;
        if (_failures.Count >= maxTrackedSources)
        {
            foreach (var (key, c) in _failures)
            {
                if (now - c.Start >= Window)
                {
                    _failures.TryRemove(key, out _);
                }
            }
            if (_failures.Count >= maxTrackedSources && !_failures.ContainsKey(source))
            {
                // Full of live windows: stay bounded rather than track one more source.
                return;
            }
        }
        var counter = _failures.GetOrAdd(source, _ => new Counter(now));
        lock (counter)
        {
            if (now - counter.Start >= Window)
            {
                counter.Start = now;
                counter.Count = 0;
            }
            counter.Count++;
        }
    }

    public void Reset(IPAddress source) => _failures.TryRemove(source, out _);
}
