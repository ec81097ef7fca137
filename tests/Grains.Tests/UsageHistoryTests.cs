using Inference.Grains.Abstractions.Keys;
using Inference.Grains.Abstractions.Publishing;
using Inference.Grains.Keys;
using Orleans.Runtime;

namespace Inference.Grains.Tests;

/// <summary>Usage over time: the ring buffers' arithmetic, and the key grain keeping them (counted from lease reports
/// and refusals, persisted with the counters, handed over on rotation).</summary>
[Collection(ClusterCollection.Name)]
public sealed class UsageHistoryTests(ClusterFixture fixture)
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 30, 10, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A_ring_counts_per_bucket_and_lists_the_whole_window_oldest_first()
    {
        var ring = UsageRing.ByMinute();
        ring.Add(T0.AddSeconds(5), 2, 10, 0);
        ring.Add(T0.AddSeconds(59), 1, 0, 3);
        ring.Add(T0.AddMinutes(2), 4, 0, 0);

        var series = ring.Series(T0.AddMinutes(2).AddSeconds(30));
        Assert.Equal(60, series.Length);
        Assert.Equal(T0.AddMinutes(2).ToUnixTimeSeconds(), series[^1].Start);
        Assert.Equal(new UsageBucket(T0.AddMinutes(2).ToUnixTimeSeconds(), 4, 0, 0), series[^1]);
        Assert.Equal(new UsageBucket(T0.AddMinutes(1).ToUnixTimeSeconds(), 0, 0, 0), series[^2]);
        Assert.Equal(new UsageBucket(T0.ToUnixTimeSeconds(), 3, 10, 3), series[^3]);
        Assert.All(series.Zip(series.Skip(1)), p => Assert.Equal(60, p.Second.Start - p.First.Start));
    }

    [Fact]
    public void A_slot_is_reused_when_its_time_comes_round_and_older_figures_drop_out_of_the_window()
    {
        var ring = UsageRing.ByMinute();
        ring.Add(T0, 5, 0, 0);
        // Sixty minutes later the same slot holds the new minute; the old one is gone, not added to it.
        ring.Add(T0.AddMinutes(60), 1, 0, 0);
        var series = ring.Series(T0.AddMinutes(60));
        Assert.Equal(1, series.Sum(b => b.Requests));
        // A late report for a minute that has left the window counts nowhere.
        ring.Add(T0, 7, 0, 0);
        Assert.Equal(1, ring.Series(T0.AddMinutes(60)).Sum(b => b.Requests));
        // Long after, the whole window is empty: stale slots are not shown as current.
        Assert.Equal(0, ring.Series(T0.AddHours(5)).Sum(b => b.Requests));
        Assert.Equal(60, ring.Series(T0.AddHours(5)).Length);
    }

    [Fact]
    public void A_ring_restored_from_its_saved_buckets_is_the_same_and_ignores_misaligned_ones()
    {
        var ring = UsageRing.ByHour();
        ring.Add(T0.AddMinutes(10), 3, 30, 1);
        ring.Add(T0.AddHours(3), 2, 0, 0);
        var saved = ring.Saved();
        Assert.Equal(2, saved.Length);

        var restored = UsageRing.ByHour([.. saved, new UsageBucket(T0.ToUnixTimeSeconds() + 7, 99, 99, 99)]);
        Assert.Equal(ring.Series(T0.AddHours(3)), restored.Series(T0.AddHours(3)));
        Assert.Equal(24, restored.Series(T0.AddHours(3)).Length);
        Assert.Equal(3600, restored.BucketSeconds);
    }

    private async Task<IApiKeyGrain> IssuedAsync(RateLimits limits)
    {
        var grain = fixture.Grains.GetGrain<IApiKeyGrain>("usage-" + Guid.NewGuid().ToString("N"));
        await grain.IssueAsync(new KeyGrant("tenant-a", "m", limits, null, UsageCounters.Zero));
        return grain;
    }

    private sealed class Host : IKeyLeaseHolder
    {
        public Task<LeaseReport[]> DropAsync(string keyHash) => Task.FromResult(Array.Empty<LeaseReport>());
    }

    [Fact]
    public async Task The_key_grain_counts_reported_use_and_refusals_apart_keeps_them_across_reactivation_and_hands_them_to_its_successor()
    {
        var key = await IssuedAsync(new RateLimits(4, 1000, 0, 4));
        var holder = fixture.Cluster.Client.CreateObjectReference<IKeyLeaseHolder>(new Host());
        var lease = await key.LeaseAsync(new LeaseRequest("host-1", holder, 1, 0, default));
        Assert.Equal(1, lease.Granted);
        // The host spent its admission (with 7 tokens) and reports it with the next request.
        await key.ReturnAsync("host-1", new LeaseReport(lease.GrantedAt, 1, 0, 7, 0));
        Assert.Equal(KeyOutcome.Valid, (await key.ValidateAsync(5)).Outcome);
        Assert.Equal(KeyOutcome.Valid, (await key.ValidateAsync(0)).Outcome);
        Assert.Equal(KeyOutcome.Valid, (await key.ValidateAsync(0)).Outcome);
        Assert.Equal(KeyOutcome.Limited, (await key.ValidateAsync(0)).Outcome);
        // A renewal asked ahead of need is refused without a request to answer: no 429 to count.
        var ahead = await key.LeaseAsync(new LeaseRequest("host-1", holder, 1, 0, default));
        Assert.Equal(KeyOutcome.Limited, ahead.Refusal!.Outcome);
        // One a request waits for is that request's 429.
        var refused = await key.LeaseAsync(new LeaseRequest("host-1", holder, 1, 0, default, Waiting: 1));
        Assert.Equal(KeyOutcome.Limited, refused.Refusal!.Outcome);

        static void AssertTotals(UsageSeries series, int bucketSeconds)
        {
            Assert.Equal(bucketSeconds, series.BucketSeconds);
            // Summed over the window: the requests may straddle a minute boundary, the totals may not change.
            Assert.Equal(4, series.Buckets.Sum(b => b.Requests));
            Assert.Equal(12, series.Buckets.Sum(b => b.Tokens));
            Assert.Equal(2, series.Buckets.Sum(b => b.Limited));
        }

        AssertTotals(await key.GetUsageSeriesAsync(UsageWindow.LastHour), 60);
        AssertTotals(await key.GetUsageSeriesAsync(UsageWindow.LastDay), 3600);
        Assert.Equal(60, (await key.GetUsageSeriesAsync(UsageWindow.LastHour)).Buckets.Length);
        Assert.Equal(24, (await key.GetUsageSeriesAsync(UsageWindow.LastDay)).Buckets.Length);

        // Deactivation writes the buckets with the counters; the next activation reads them back.
        await fixture.Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        AssertTotals(await key.GetUsageSeriesAsync(UsageWindow.LastHour), 60);

        var successor = "usage-" + Guid.NewGuid().ToString("N");
        await key.RotateToAsync(successor, new KeyGrant("tenant-a", "m", new RateLimits(4, 1000, 0, 4), null, UsageCounters.Zero), null);
        var next = fixture.Grains.GetGrain<IApiKeyGrain>(successor);
        AssertTotals(await next.GetUsageSeriesAsync(UsageWindow.LastHour), 60);
        AssertTotals(await next.GetUsageSeriesAsync(UsageWindow.LastDay), 3600);
    }
}
