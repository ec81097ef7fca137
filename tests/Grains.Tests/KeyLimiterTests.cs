using Inference.Grains.Abstractions.Keys;
using Inference.Grains.Abstractions.Publishing;
using Inference.Grains.Keys;

namespace Inference.Grains.Tests;

/// <summary>The limiter's semantics on a synthetic clock (no waiting): what the documentation promises.</summary>
public sealed class KeyLimiterTests
{
    private static readonly long Start = new DateTime(2026, 1, 1, 12, 0, 0, DateTimeKind.Utc).Ticks;

    private static long At(double seconds) => Start + (long)(seconds * TimeSpan.TicksPerSecond);

    [Fact]
    public void Never_more_than_the_per_minute_limit_in_any_sixty_seconds()
    {
        var limiter = new KeyLimiter(new RateLimits(50, 1_000_000, 0, 50));
        var random = new Random(7);
        var admitted = new List<long>();
        var t = 0.0;
        for (var i = 0; i < 20_000; i++)
        {
            t += random.NextDouble() * 0.05;
            if (limiter.TryAcquire(At(t), 0, "t", "m").Outcome == KeyOutcome.Valid)
            {
                admitted.Add(At(t));
            }
        }
        // Sliding window: the admitted request i and i+50 are always at least 60 s apart...
        for (var i = 0; i + 50 < admitted.Count; i++)
        {
            Assert.True(admitted[i + 50] - admitted[i] >= TimeSpan.TicksPerMinute, $"51 requests within 60 s at {i}");
        }
        // ...and the limiter is not stricter than that: over ~500 s about 50 per minute get through.
        Assert.InRange(admitted.Count, 50 * (int)(t / 60), 50 * ((int)(t / 60) + 2));
    }

    [Fact]
    public void The_burst_bucket_refills_at_the_per_minute_rate()
    {
        var limiter = new KeyLimiter(new RateLimits(60, 1000, 0, 3));
        Assert.Equal(KeyOutcome.Valid, limiter.TryAcquire(At(0), 0, "t", "m").Outcome);
        Assert.Equal(KeyOutcome.Valid, limiter.TryAcquire(At(0), 0, "t", "m").Outcome);
        Assert.Equal(KeyOutcome.Valid, limiter.TryAcquire(At(0), 0, "t", "m").Outcome);
        var refused = limiter.TryAcquire(At(0.1), 0, "t", "m");
        Assert.Equal(KeyOutcome.Limited, refused.Outcome);
        Assert.Equal("burstLimit", refused.LimitedBy);
        Assert.Equal(1, refused.RetryAfterSeconds);
        // One token per second at 60 per minute.
        Assert.Equal(KeyOutcome.Valid, limiter.TryAcquire(At(1.05), 0, "t", "m").Outcome);
        Assert.Equal(KeyOutcome.Limited, limiter.TryAcquire(At(1.1), 0, "t", "m").Outcome);
    }

    [Fact]
    public void Hourly_limits_use_utc_clock_hours()
    {
        var limiter = new KeyLimiter(new RateLimits(10, 10, 100, 10));
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(KeyOutcome.Valid, limiter.TryAcquire(At(3000 + i * 7), 5, "t", "m").Outcome);
        }
        var refused = limiter.TryAcquire(At(3500), 0, "t", "m");
        Assert.Equal("requestsPerHour", refused.LimitedBy);
        Assert.Equal(100, refused.RetryAfterSeconds);
        // 13:00:00 starts a new hour.
        Assert.Equal(KeyOutcome.Valid, limiter.TryAcquire(At(3600), 95, "t", "m").Outcome);
        Assert.Equal("tokensPerHour", limiter.TryAcquire(At(3700), 6, "t", "m").LimitedBy);
        Assert.Equal(KeyOutcome.Valid, limiter.TryAcquire(At(3700), 5, "t", "m").Outcome);
    }

    [Fact]
    public void A_reservation_read_back_in_a_later_hour_counts_at_most_the_carry_of_its_tokens()
    {
        var limits = new RateLimits(1000, 10_000, 400, 1000);
        var saved = new KeyWindows(Start, 1, 350, [At(10)], 999, At(10));
        // Same hour: the whole reservation counts.
        var same = KeyLimiter.AssumeAdmitted(saved, limits, At(20), 2, 300, tokensIntoLaterHour: 100);
        Assert.Equal(650, same.HourTokens);
        // The next hour: only the carry (the activation granted no more there without writing first).
        var next = KeyLimiter.AssumeAdmitted(saved, limits, At(3601), 2, 300, tokensIntoLaterHour: 100);
        Assert.Equal(100, next.HourTokens);
        Assert.Equal(2, next.HourCount);
        Assert.Equal(KeyOutcome.Valid, new KeyLimiter(limits, next).TryAcquire(At(3602), 300, "t", "m").Outcome);
    }

    [Fact]
    public void A_new_activation_whose_clock_is_a_little_behind_the_stored_hour_keeps_that_hours_tokens()
    {
        var limits = new RateLimits(1000, 10_000, 400, 1000);
        // The last write was made at 13:00:01 (hour 13 holds 350 tokens, 50 reserved); the silo crashed and the next
        // activation starts on a silo whose clock reads 12:59:59.9.
        var saved = new KeyWindows(At(3600), 1, 350, [At(3601)], 999, At(3601));
        var read = KeyLimiter.AssumeAdmitted(saved, limits, At(3599.9), 1, 50, tokensIntoLaterHour: 100);
        var limiter = new KeyLimiter(limits, read);
        // At 13:00:02 hour 13 already holds 350 (+ up to 50 reserved): at most 50 more tokens may be admitted.
        Assert.Equal(KeyOutcome.Limited, limiter.TryAcquire(At(3602), 300, "t", "m").Outcome);
    }

    [Fact]
    public void A_stored_hour_far_ahead_of_the_clock_is_a_bad_record_not_kept()
    {
        var limits = new RateLimits(1000, 10_000, 400, 1000);
        // Five hours ahead is no clock skew: its counts are not this hour's, and the hour is not frozen until then.
        var saved = new KeyWindows(At(5 * 3600), 1, 400, [At(5 * 3600 + 1)], 999, At(5 * 3600 + 1));
        var read = KeyLimiter.AssumeAdmitted(saved, limits, At(10), 0, 0, tokensIntoLaterHour: 100);
        Assert.Equal(KeyOutcome.Valid, new KeyLimiter(limits, read).TryAcquire(At(11), 300, "t", "m").Outcome);
    }

    [Fact]
    public void Windows_handed_to_a_successor_keep_the_budget()
    {
        var limiter = new KeyLimiter(new RateLimits(5, 100, 0, 5));
        for (var i = 0; i < 4; i++)
        {
            limiter.TryAcquire(At(i), 0, "t", "m");
        }
        var successor = new KeyLimiter(new RateLimits(5, 100, 0, 5), limiter.Windows(At(10)));
        Assert.Equal(KeyOutcome.Valid, successor.TryAcquire(At(11), 0, "t", "m").Outcome);
        Assert.Equal("requestsPerMinute", successor.TryAcquire(At(12), 0, "t", "m").LimitedBy);
        Assert.Equal(KeyOutcome.Valid, successor.TryAcquire(At(60.5), 0, "t", "m").Outcome);
    }
}
