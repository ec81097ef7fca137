using Inference.Grains.Abstractions.Keys;
using Inference.Grains.Abstractions.Publishing;
using Inference.Shared.Keys;

namespace Inference.Grains.Keys;

/// <summary>The rate-limit windows of one key, in memory, owned by its single grain activation (not thread-safe: only
/// its grain's turns touch it). A request is admitted only if every limit admits it, and only an admitted request
/// is counted.
/// <list type="bullet">
/// <item>Burst: a token bucket holding at most <c>burstLimit</c> tokens, refilled continuously at
/// <c>requestsPerMinute / 60</c> tokens per second; each request takes one.</item>
/// <item>Per minute: an exact sliding window: at most <c>requestsPerMinute</c> admitted requests in any 60 seconds,
/// kept as a ring of the admitted requests' timestamps (at most <c>requestsPerMinute</c> entries).</item>
/// <item>Per hour and tokens per hour: fixed UTC clock hours (12:00:00-12:59:59): at most <c>requestsPerHour</c>
/// admitted requests and at most <c>tokensPerHour</c> reported tokens per clock hour.</item>
/// </list></summary>
public sealed class KeyLimiter(RateLimits limits, KeyWindows? carried = null)
{
    private static readonly long Minute = TimeSpan.TicksPerMinute;

    private RateLimits _limits = limits;
    private long[] _log = carried?.MinuteLog is { Length: > 0 } l ? Resize(l, limits.RequestsPerMinute) : new long[Math.Min(limits.RequestsPerMinute, 64)];
    private int _head;
    private int _count = Math.Min(carried?.MinuteLog?.Length ?? 0, limits.RequestsPerMinute);
    private double _burst = carried?.BurstTokens ?? limits.BurstLimit;
    private long _burstAt = carried?.BurstAt ?? 0;

    public long HourStart { get; private set; } = carried?.HourStart ?? 0;

    public int HourCount { get; private set; } = carried?.HourCount ?? 0;

    public long HourTokens { get; private set; } = carried?.HourTokens ?? 0;

    public RateLimits Limits => _limits;

    /// <summary>New limits take effect on the current windows (a lowered limit keeps the newest entries).</summary>
    public void SetLimits(RateLimits limits, long now)
    {
        var windows = Windows(now);
        _limits = limits;
        _log = Resize(windows.MinuteLog, limits.RequestsPerMinute);
        _head = 0;
        _count = Math.Min(windows.MinuteLog.Length, limits.RequestsPerMinute);
        _burst = Math.Min(_burst, limits.BurstLimit);
    }

    /// <summary>Admits and counts the request, or says which limit refused it and for how long.</summary>
    public KeyCheck TryAcquire(long now, long tokens, string tenant, string model)
    {
        Evict(now);
        RollHour(now);
        Refill(now);
        if (Limiting(now, tokens) is { } refusal)
        {
            return refusal;
        }
        Append(now);
        HourCount++;
        // Saturating: a caller reporting absurd token counts must not wrap the hour's total to a negative one.
        HourTokens = Saturating.Add(HourTokens, tokens);
        _burst -= 1;
        return new KeyCheck(KeyOutcome.Valid, tenant, model, _limits.RequestsPerMinute, Remaining(), Reset(now), 0, _limits.RequestsPerHour, null);

        KeyCheck? Limiting(long now, long tokens) => LimitedBy(now, tokens) is ({ } limitedBy, var retryTicks)
            ? new KeyCheck(KeyOutcome.Limited, tenant, model, _limits.RequestsPerMinute, Remaining(), Reset(now), Seconds(retryTicks), _limits.RequestsPerHour, limitedBy)
            : null;
    }

    /// <summary>The limit that refuses a request of <paramref name="tokens"/> now, and for how long; null when none does.</summary>
    private (string? Name, long RetryTicks) LimitedBy(long now, long tokens)
    {
        var retryTicks = 0L;
        string? limitedBy = null;
        if (HourCount >= _limits.RequestsPerHour)
        {
            (limitedBy, retryTicks) = ("requestsPerHour", HourStart + TimeSpan.TicksPerHour - now);
        }
        else if (_limits.TokensPerHour > 0 && (HourTokens >= _limits.TokensPerHour || tokens > _limits.TokensPerHour - HourTokens))
        {
            (limitedBy, retryTicks) = ("tokensPerHour", HourStart + TimeSpan.TicksPerHour - now);
        }
        else if (_count >= _limits.RequestsPerMinute)
        {
            (limitedBy, retryTicks) = ("requestsPerMinute", _log[_head] + Minute - now);
        }
        else if (_burst < 1)
        {
            (limitedBy, retryTicks) = ("burstLimit", (long)((1 - _burst) * 60 * TimeSpan.TicksPerSecond / _limits.RequestsPerMinute));
        }
        return (limitedBy, retryTicks);
    }

    /// <summary>Admits and counts up to <paramref name="wanted"/> requests at once for a lease, at most
    /// <paramref name="share"/> of what every limit has left (at least one, where one is left), and reserves up to
    /// <paramref name="wantedTokens"/> tokens (of the same share) when the key has a token limit. Zero granted: the
    /// refusal says which limit and for how long.</summary>
    public int Grant(long now, int wanted, long wantedTokens, double share, out long tokenBudget, out KeyCheck? refusal,
        string tenant, string model, long maxGranted = long.MaxValue, long maxTokens = long.MaxValue)
    {
        Evict(now);
        RollHour(now);
        Refill(now);
        refusal = null;
        tokenBudget = -1;
        var minuteLeft = _limits.RequestsPerMinute - _count;
        var hourLeft = _limits.RequestsPerHour - HourCount;
        var burstLeft = (int)Math.Floor(_burst);
        var tokensLeft = _limits.TokensPerHour > 0 ? _limits.TokensPerHour - HourTokens : long.MaxValue;
        var headroom = Math.Min(Math.Min(minuteLeft, hourLeft), burstLeft);
        if (headroom <= 0 || tokensLeft <= 0)
        {
            var (limitedBy, retryTicks) = LimitedBy(now, 0);
            refusal = new KeyCheck(KeyOutcome.Limited, tenant, model, _limits.RequestsPerMinute, Remaining(), Reset(now), Seconds(retryTicks),
                _limits.RequestsPerHour, limitedBy ?? "burstLimit");
            return 0;
        }
        var granted = (int)Math.Min(Math.Min(Math.Max(1, wanted), Math.Max(1, (int)(headroom * share))), Math.Max(1, maxGranted));
        if (_limits.TokensPerHour > 0)
        {
            tokenBudget = Math.Min(TokenShare(wantedTokens, tokensLeft, share), Math.Max(0, maxTokens));
            HourTokens += tokenBudget;
        }
        for (var i = 0; i < granted; i++)
        {
            Append(now);
        }
        HourCount += granted;
        _burst -= granted;
        return granted;
    }

    /// <summary>The token budget <see cref="Grant"/> would give a lease wanting <paramref name="wantedTokens"/> now (when
    /// nothing else limits it): what a reservation for that grant must cover, and no more.</summary>
    public long TokenBudget(long now, long wantedTokens, double share)
    {
        RollHour(now);
        return _limits.TokensPerHour > 0 ? TokenShare(wantedTokens, Math.Max(0, _limits.TokensPerHour - HourTokens), share) : 0;
    }

    private static long TokenShare(long wantedTokens, long tokensLeft, double share) =>
        Math.Min(Math.Max(0, wantedTokens), Math.Max(1, (long)(tokensLeft * share)));

    /// <summary>Whether every limit would admit a request of <paramref name="tokens"/> now (nothing is counted).</summary>
    public bool Admits(long now, long tokens)
    {
        Evict(now);
        RollHour(now);
        Refill(now);
        return LimitedBy(now, tokens).Name is null;
    }

    /// <summary>Saved windows with <paramref name="requests"/> admissions and <paramref name="tokens"/> tokens added at
    /// <paramref name="now"/>: grants a crashed activation may have made after its last write, counted as made as
    /// late as they can have been, so they leave the windows no sooner than they would have. In a later clock hour than
    /// the saved windows' it counts at most <paramref name="tokensIntoLaterHour"/> of the tokens: an activation whose
    /// reservation is larger grants no tokens in a later hour than its last write's (<see cref="GrantReservation.Available"/>),
    /// so a large reservation locks the key no longer than the hour it was written in.</summary>
    public static KeyWindows AssumeAdmitted(KeyWindows saved, RateLimits limits, long now, int requests, long tokens,
        long tokensIntoLaterHour = long.MaxValue)
    {
        requests = Math.Max(0, requests);
        tokens = Math.Max(0, tokens);
        // The window keeps at most a minute's limit of entries, the newest: more would only be dropped again.
        var inLog = Math.Min(requests, limits.RequestsPerMinute);
        var kept = saved.MinuteLog.AsSpan(Math.Max(0, saved.MinuteLog.Length - (limits.RequestsPerMinute - inLog)));
        var log = new long[kept.Length + inLog];
        kept.CopyTo(log);
        // Saved admissions stand at the end of their second, which may be a little after now: the log stays in order.
        Array.Fill(log, Math.Max(now, saved.MinuteLog.LastOrDefault()), kept.Length, inLog);
        // A clock a little behind the one that wrote the windows does not reopen their hour; an hour more than one
        // ahead of this clock is no skew but a bad record, and is not kept.
        var nowHour = now - now % TimeSpan.TicksPerHour;
        var hour = saved.HourStart > nowHour && saved.HourStart <= nowHour + TimeSpan.TicksPerHour ? saved.HourStart : nowHour;
        var (hourCount, hourTokens) = saved.HourStart == hour
            ? ((int)Math.Min(int.MaxValue, (long)saved.HourCount + requests), Saturating.Add(saved.HourTokens, tokens))
            : (requests, Math.Min(tokens, Math.Max(0, tokensIntoLaterHour)));
        var burst = saved.BurstAt == 0
            ? limits.BurstLimit
            : Math.Min(limits.BurstLimit, saved.BurstTokens + (now - saved.BurstAt) / (double)TimeSpan.TicksPerSecond * limits.RequestsPerMinute / 60.0);
        // A live bucket never goes below empty: the reservation's grants cannot have taken more than it held.
        return new KeyWindows(hour, hourCount, hourTokens, log, Math.Max(0, burst - requests), now);
    }

    /// <summary>Right after <see cref="Grant"/> refused at <paramref name="now"/>: how long (ticks) the limit that refused
    /// keeps refusing if nothing is refunded and the limits stay: no request is admitted before then.</summary>
    public long LimitedFor(long now) => LimitedBy(now, 0) is ({ }, var ticks) ? Math.Max(0, ticks) : 0;

    /// <summary>Gives back what a lease granted at <paramref name="grantedAt"/> did not spend: the window entries it
    /// took (the newest ones with that time), the hour's counts while the hour is the same, and the burst tokens.</summary>
    public void Refund(long now, long grantedAt, int unspent, long tokensUnspent, long tokensSpentUnreserved)
    {
        RollHour(now);
        // Tokens spent on a key without a token limit were reserved by no grant: counted as they are reported.
        HourTokens = Saturating.Add(HourTokens, Math.Max(0, tokensSpentUnreserved));
        if (unspent > 0)
        {
            Evict(now);
            var removed = 0;
            var kept = 0;
            var entries = new long[_count];
            for (var i = _count - 1; i >= 0; i--)
            {
                var at = _log[(_head + i) % _log.Length];
                if (removed < unspent && at == grantedAt)
                {
                    removed++;
                    continue;
                }
                entries[_count - 1 - kept++] = at;
            }
            if (removed > 0)
            {
                Array.Copy(entries, _count - kept, _log, 0, kept);
                _head = 0;
                _count = kept;
            }
            if (grantedAt - grantedAt % TimeSpan.TicksPerHour == HourStart)
            {
                HourCount = Math.Max(0, HourCount - unspent);
            }
            _burst = Math.Min(_limits.BurstLimit, _burst + unspent);
        }
        if (tokensUnspent > 0 && grantedAt - grantedAt % TimeSpan.TicksPerHour == HourStart)
        {
            HourTokens = Math.Max(0, HourTokens - tokensUnspent);
        }
    }

    /// <summary>What every limit has left now, for the headers.</summary>
    public (int Remaining, int Reset) Headroom(long now)
    {
        Evict(now);
        return (Remaining(), Reset(now));
    }

    /// <summary>The windows as they stand, to persist (hour) or hand to a rotated key's successor (all).</summary>
    public KeyWindows Windows(long now)
    {
        Evict(now);
        var log = new long[_count];
        for (var i = 0; i < _count; i++)
        {
            log[i] = _log[(_head + i) % _log.Length];
        }
        return new KeyWindows(HourStart, HourCount, HourTokens, log, _burst, _burstAt);
    }

    private int Remaining() => Math.Max(0, Math.Min(_limits.RequestsPerMinute - _count, _limits.RequestsPerHour - HourCount));

    private int Reset(long now) => _count == 0 ? 0 : Seconds(_log[_head] + Minute - now);

    private static int Seconds(long ticks) => (int)Math.Max(1, (ticks + TimeSpan.TicksPerSecond - 1) / TimeSpan.TicksPerSecond);

    private void Evict(long now)
    {
        while (_count > 0 && _log[_head] <= now - Minute)
        {
            _head = (_head + 1) % _log.Length;
            _count--;
        }
    }

    private void Append(long now)
    {
        if (_count == _log.Length)
        {
            // Grows up to the per-minute limit only, so an idle key with a high limit costs little memory.
            var grown = new long[Math.Min(_log.Length * 2, _limits.RequestsPerMinute)];
            for (var i = 0; i < _count; i++)
            {
                grown[i] = _log[(_head + i) % _log.Length];
            }
            _log = grown;
            _head = 0;
        }
        _log[(_head + _count) % _log.Length] = now;
        _count++;
    }

    private void RollHour(long now)
    {
        var hour = now - now % TimeSpan.TicksPerHour;
        if (hour > HourStart)
        {
            HourStart = hour;
            HourCount = 0;
            HourTokens = 0;
        }
    }

    private void Refill(long now)
    {
        if (_burstAt == 0)
        {
            _burstAt = now;
            return;
        }
        var elapsedSeconds = (now - _burstAt) / (double)TimeSpan.TicksPerSecond;
        _burst = Math.Min(_limits.BurstLimit, _burst + elapsedSeconds * _limits.RequestsPerMinute / 60.0);
        _burstAt = now;
    }

    private static long[] Resize(long[] entries, int limit)
    {
        // Keep the newest entries that fit the (possibly lowered) limit.
        var keep = Math.Min(entries.Length, limit);
        var log = new long[Math.Max(Math.Min(limit, 64), keep)];
        Array.Copy(entries, entries.Length - keep, log, 0, keep);
        return log;
    }
}
