using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Options;

namespace Inference.ApiHost.Keys;

/// <summary>Counts failed key validations per source address in fixed one-minute windows, in memory, per API host;
/// bounded in size (expired windows are swept when it grows). Successful validations never allocate here.</summary>
public sealed class SourceThrottle(IOptions<KeyValidationOptions> options, TimeProvider time)
{
    private const int MaxTrackedSources = 50_000;
    private static readonly long Window = TimeSpan.TicksPerMinute;

    private readonly ConcurrentDictionary<IPAddress, Counter> _failures = new();
    private readonly int _limit = options.Value.FailuresPerMinute;
    private readonly HashSet<IPAddress> _trusted = options.Value.TrustedProxyAddresses();

    private sealed class Counter(long start)
    {
        public long Start = start;
        public int Count;
    }

    public int Limit => _limit;

    /// <summary>The source to count against: the connection's address, or for a trusted proxy the address it
    /// reports last in <c>X-Forwarded-For</c> (the one that connected to it).</summary>
    public IPAddress Source(HttpContext context)
    {
        var remote = context.Connection.RemoteIpAddress ?? IPAddress.None;
        if (_trusted.Count > 0 && _trusted.Contains(remote)
            && context.Request.Headers["X-Forwarded-For"] is { Count: > 0 } forwarded)
        {
            var last = forwarded[^1]!;
            var comma = last.LastIndexOf(',');
            if (IPAddress.TryParse(last.AsSpan(comma + 1).Trim(), out var client))
            {
                return client;
            }
        }
        return remote;
    }

    /// <summary>Seconds until the source may try again, or 0 when it may try now.</summary>
    public int RetryAfter(IPAddress source, out int remaining)
    {
        remaining = _limit;
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
        remaining = Math.Max(0, _limit - count);
        return count >= _limit ? (int)Math.Max(1, (c.Start + Window - now + TimeSpan.TicksPerSecond - 1) / TimeSpan.TicksPerSecond) : 0;
    }

    public void Failed(IPAddress source)
    {
        var now = time.GetUtcNow().UtcTicks;
        if (_failures.Count >= MaxTrackedSources)
        {
            foreach (var (key, c) in _failures)
            {
                if (now - c.Start >= Window)
                {
                    _failures.TryRemove(key, out _);
                }
            }
            if (_failures.Count >= MaxTrackedSources && !_failures.ContainsKey(source))
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
}
