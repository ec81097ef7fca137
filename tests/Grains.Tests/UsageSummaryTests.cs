using Inference.Grains.Abstractions.Events;
using Inference.Grains.Abstractions.Keys;
using Inference.Grains.Abstractions.Publishing;
using Inference.Grains.Keys;

namespace Inference.Grains.Tests;

/// <summary>A published key's `usage.summary` events: what is announced (the counters as written), when, and in what
/// order with the key's other changes, with the tenant's event path recorded or held up by <see cref="StalledEvents"/>.</summary>
[Collection(ClusterCollection.Name)]
public sealed class UsageSummaryTests(ClusterFixture fixture)
{
    private static int Admitted(KeyCheck[] checks) => checks.Count(c => c.Outcome == KeyOutcome.Valid);

    private static KeyRequest[] Requests(int n) => [.. Enumerable.Repeat(new KeyRequest(0), n)];

    [Fact]
    public async Task The_usage_written_behind_is_announced()
    {
        var tenant = "announce-" + Guid.NewGuid().ToString("N")[..8];
        var key = fixture.Grains.GetGrain<IApiKeyGrain>("announce-" + Guid.NewGuid().ToString("N"));
        using var record = StalledEvents.Record(tenant);
        await key.IssueAsync(new KeyGrant(tenant, "m", new RateLimits(40, 1000, 0, 40), null, UsageCounters.Zero));
        Assert.Equal(5, Admitted(await key.ValidateManyAsync(Requests(5))));
        await AnnouncedAsync(record, 5);
    }

    [Fact]
    public async Task The_usage_written_by_a_reservation_write_is_announced()
    {
        var tenant = "announce-" + Guid.NewGuid().ToString("N")[..8];
        var id = "announce-" + Guid.NewGuid().ToString("N");
        var key = fixture.Grains.GetGrain<IApiKeyGrain>(id);
        using var record = StalledEvents.Record(tenant);
        await key.IssueAsync(new KeyGrant(tenant, "m", new RateLimits(40, 1000, 0, 40), null, UsageCounters.Zero));
        // Reservation 10; the sixth admission leaves 4 (< half): the top-up write takes the counters (6) and clears
        // the dirty flag, so no write-behind follows, and no usage.summary ever says 6.
        Assert.Equal(6, Admitted(await key.ValidateManyAsync(Requests(6))));
        await AnnouncedAsync(record, 6);
    }

    [Fact]
    public async Task The_last_usage_summary_is_the_newest_across_activations()
    {
        var tenant = "order-" + Guid.NewGuid().ToString("N")[..8];
        var id = "order-" + Guid.NewGuid().ToString("N");
        var key = fixture.Grains.GetGrain<IApiKeyGrain>(id);
        using var record = StalledEvents.Record(tenant);
        await key.IssueAsync(new KeyGrant(tenant, "m", new RateLimits(1000, 10_000, 0, 1000), null, UsageCounters.Zero));
        var w0 = FailingStorage.Writes(id);
        var stall = StalledEvents.Hold(tenant);
        try
        {
            Assert.Equal(5, Admitted(await key.ValidateManyAsync(Requests(5))));
            await stall.FirstEventHeld.WaitAsync(TimeSpan.FromSeconds(60)); // U1 = 5 held on the event path
            Assert.Equal(5, Admitted(await key.ValidateManyAsync(Requests(5))));
            await WaitWritesAsync(id, w0 + 2); // written behind: U1' = 10 waits in the activation for U1
            await fixture.Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
            await WaitWritesAsync(id, w0 + 3); // the final write
            Assert.Equal(5, Admitted(await key.ValidateManyAsync(Requests(5)))); // the next activation
            await WaitWritesAsync(id, w0 + 5); // its reservation, then its write behind: U2 = 15 sent
            // Sent (its write landed); time to reach the held grain's queue. A call waiting there is not dispatched
            // (nor recorded) before the held one ends, so its arrival cannot be waited for.
            await Task.Delay(500);
        }
        finally
        {
            stall.Dispose();
        }
        // A window for the ended activation's queued summary (10) to show up if it were still sent.
        var until = DateTime.UtcNow.AddSeconds(5);
        while (record.Events.Count(e => e.Type == ChangeTypes.UsageSummary) < 3 && DateTime.UtcNow < until)
        {
            await Task.Delay(100);
        }
        var seen = record.Events.Where(e => e.Type == ChangeTypes.UsageSummary)
            .Select(e => ((UsageSummary)e.Resource!).Usage.TotalRequests).ToList();
        Assert.True(seen.Count > 0 && seen[^1] == 15, "summaries in order of publication: " + string.Join(", ", seen));
    }

    [Fact]
    public async Task No_usage_summary_follows_the_keys_revocation()
    {
        var tenant = "revoke-" + Guid.NewGuid().ToString("N")[..8];
        var id = "revoke-" + Guid.NewGuid().ToString("N");
        var key = fixture.Grains.GetGrain<IApiKeyGrain>(id);
        using var record = StalledEvents.Record(tenant);
        await key.IssueAsync(new KeyGrant(tenant, "m", new RateLimits(1000, 10_000, 0, 1000), null, UsageCounters.Zero));
        var w0 = FailingStorage.Writes(id);
        Task<long> unpublished;
        var stall = StalledEvents.Hold(tenant);
        try
        {
            Assert.Equal(5, Admitted(await key.ValidateManyAsync(Requests(5))));
            await stall.FirstEventHeld.WaitAsync(TimeSpan.FromSeconds(60));
            Assert.Equal(5, Admitted(await key.ValidateManyAsync(Requests(5))));
            await WaitWritesAsync(id, w0 + 2);
            await key.RevokeAsync(); // returns: the key is revoked
            // What PublishedModelGrain.UnpublishAsync announces after RevokeAsync returned.
            unpublished = fixture.Grains.GetGrain<ITenantEventsGrain>(tenant).PublishAsync(
                new ChangeEvent(ChangeTypes.ModelUnpublished, tenant, "publication", "m", DateTimeOffset.UtcNow, 0, null));
            // Time to reach the held grain's queue (see above).
            await Task.Delay(500);
        }
        finally
        {
            stall.Dispose();
        }
        await unpublished;
        // A window for the summary queued before the revocation (10) to show up if it were still sent.
        var until = DateTime.UtcNow.AddSeconds(5);
        while (record.Events.Count < 3 && DateTime.UtcNow < until)
        {
            await Task.Delay(100);
        }
        var seen = record.Events.Select(e => e.Type + (e.Resource is UsageSummary u ? "(" + u.Usage.TotalRequests + ")" : "")).ToList();
        Assert.True(record.Events.Last().Type == ChangeTypes.ModelUnpublished, "events in order of arrival: " + string.Join(", ", seen));
    }

    /// <summary>Waits (within a bound far above a write-behind period) for a summary of these counters.</summary>
    private static async Task AnnouncedAsync(StalledEvents.Recording record, long totalRequests)
    {
        bool Seen() => record.Events.Any(e => e.Resource is UsageSummary u && u.Usage.TotalRequests == totalRequests);
        var until = DateTime.UtcNow.AddSeconds(60);
        while (!Seen() && DateTime.UtcNow < until)
        {
            await Task.Delay(100);
        }
        Assert.True(Seen(), "summaries: " + string.Join(", ", record.Events.Select(e => e.Resource is UsageSummary u ? u.Usage.TotalRequests.ToString() : e.Type)));
    }

    private static async Task WaitWritesAsync(string id, int n)
    {
        var until = DateTime.UtcNow.AddSeconds(30);
        while (FailingStorage.Writes(id) < n && DateTime.UtcNow < until)
        {
            await Task.Delay(100);
        }
        Assert.True(FailingStorage.Writes(id) >= n, $"{FailingStorage.Writes(id)} writes, wanted {n}");
    }
}
