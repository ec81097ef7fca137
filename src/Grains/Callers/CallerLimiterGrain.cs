using Inference.Grains.Abstractions.Callers;

namespace Inference.Grains.Callers;

/// <summary>Sliding-window log of one caller's recent requests: exact ("at most N in any window"), and
/// deterministic at window edges, unlike fixed windows that reset on the minute. Memory is bounded by the
/// policy's limits. Kept in memory only: a silo's death forgets at most one window of counts for its callers,
/// which errs on the caller's side for at most a minute.</summary>
public sealed class CallerLimiterGrain(TimeProvider time) : Grain, ICallerLimiterGrain
{
    private const int MaxTracked = 100_000;
    private readonly Queue<DateTimeOffset> _window = new();
    private readonly Queue<DateTimeOffset> _burst = new();

    public Task<RateDecision> AcquireAsync(RatePolicy policy)
    {
        var now = time.GetUtcNow();
        var limit = Math.Clamp(policy.Limit, 1, MaxTracked);
        var burst = Math.Clamp(policy.Burst, 1, MaxTracked);
        Prune(_window, now - policy.Window, limit);
        Prune(_burst, now - policy.BurstWindow, burst);

        TimeSpan? retryAfter = null;
        if (_window.Count >= limit)
        {
            retryAfter = _window.Peek() + policy.Window - now;
        }
        else if (_burst.Count >= burst)
        {
            retryAfter = _burst.Peek() + policy.BurstWindow - now;
        }
        else
        {
            _window.Enqueue(now);
            _burst.Enqueue(now);
        }
        var reset = _window.Count > 0 ? _window.Peek() + policy.Window - now : TimeSpan.Zero;
        return Task.FromResult(new RateDecision(retryAfter is null, limit, limit - _window.Count, reset, retryAfter ?? TimeSpan.Zero));
    }

    /// <summary>Drops entries that left the window, and any excess after the policy shrank.</summary>
    private static void Prune(Queue<DateTimeOffset> log, DateTimeOffset since, int capacity)
    {
        while (log.Count > 0 && (log.Peek() <= since || log.Count > capacity))
        {
            log.Dequeue();
        }
    }
}
