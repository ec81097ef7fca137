using System.Collections.Concurrent;
using Inference.Grains.Abstractions.Keys;
using Inference.Grains.Abstractions.Publishing;
using Inference.Grains.Keys;
using Inference.TestSupport;
using Orleans.Core.Internal;

namespace Inference.Grains.Tests;

/// <summary>The grain's side of key leases, across the test cluster's two silos: grants are counted as admitted when
/// made, unspent admissions come back, usage is what hosts report, and a change of the key is acknowledged only after
/// every holder dropped its lease or the lease ran out.</summary>
[Collection(ClusterCollection.Name)]
public sealed class KeyLeaseTests(ClusterFixture fixture)
{
    private async Task<IApiKeyGrain> IssuedAsync(RateLimits limits)
    {
        var grain = fixture.Grains.GetGrain<IApiKeyGrain>("lease-" + Guid.NewGuid().ToString("N"));
        await grain.IssueAsync(new KeyGrant("tenant-a", "m", limits, null, UsageCounters.Zero));
        return grain;
    }

    /// <summary>A host as the grain sees it: an observer that answers drops with what it spent (or never answers).</summary>
    private sealed class Host : IKeyLeaseHolder
    {
        public readonly ConcurrentQueue<string> Drops = new();
        public LeaseReport Report;
        public bool Silent;

        public async Task<LeaseReport[]> DropAsync(string keyHash)
        {
            Drops.Enqueue(keyHash);
            if (Silent)
            {
                await Task.Delay(Timeout.Infinite);
            }
            return Report.IsEmpty ? [] : [Report];
        }
    }

    private (string Id, Host Host, IKeyLeaseHolder Reference) NewHost()
    {
        var host = new Host();
        return (Guid.NewGuid().ToString("N"), host, fixture.Cluster.Client.CreateObjectReference<IKeyLeaseHolder>(host));
    }

    [Fact]
    public async Task Grants_across_hosts_and_calls_never_exceed_a_limit()
    {
        var key = await IssuedAsync(new RateLimits(40, 1000, 0, 40));
        var (a, _, refA) = NewHost();
        var (b, _, refB) = NewHost();

        var granted = 0;
        var grants = new List<int>();
        for (var i = 0; i < 30; i++)
        {
            var lease = await key.LeaseAsync(new LeaseRequest(i % 2 == 0 ? a : b, i % 2 == 0 ? refA : refB, 1000, 0, default));
            grants.Add(lease.Granted);
            granted += lease.Granted;
        }
        // A lease takes at most a quarter of what is left, down to one near the limit; then the answer is a refusal.
        Assert.Equal(10, grants[0]);
        Assert.Contains(1, grants);
        Assert.Equal(40, granted);
        Assert.Equal(KeyOutcome.Limited, (await key.ValidateAsync(0)).Outcome);
        var refused = await key.LeaseAsync(new LeaseRequest(a, refA, 5, 0, default));
        Assert.Equal(0, refused.Granted);
        Assert.Equal(KeyOutcome.Limited, refused.Refusal!.Outcome);
    }

    [Fact]
    public async Task Unspent_admissions_are_refunded_and_spent_ones_are_the_usage()
    {
        var key = await IssuedAsync(new RateLimits(8, 1000, 0, 8));
        var (a, _, refA) = NewHost();
        var first = await key.LeaseAsync(new LeaseRequest(a, refA, 100, 0, default));
        Assert.Equal(2, first.Granted);
        Assert.Equal(6, first.Remaining);
        Assert.Equal("tenant-a", first.Record!.Tenant);

        // Spent one, returns one: the refunded admission is there for the next request.
        await key.ReturnAsync(a, new LeaseReport(first.GrantedAt, 1, 1, 0, 0));
        Assert.Equal(1, (await key.GetUsageAsync()).TotalRequests);
        var admitted = 0;
        for (var i = 0; i < 10; i++)
        {
            admitted += (await key.ValidateAsync(0)).Outcome == KeyOutcome.Valid ? 1 : 0;
        }
        Assert.Equal(7, admitted);
        Assert.Equal(8, (await key.GetUsageAsync()).TotalRequests);

        // A report for a grant the grain does not know (made before a restart, or twice) counts usage, refunds nothing.
        await key.ReturnAsync(a, new LeaseReport(first.GrantedAt, 0, 1, 0, 0));
        Assert.Equal(KeyOutcome.Limited, (await key.ValidateAsync(0)).Outcome);
    }

    [Fact]
    public async Task A_token_budget_is_reserved_with_the_grant_and_its_unspent_part_refunded()
    {
        var key = await IssuedAsync(new RateLimits(1000, 10000, 400, 1000));
        var (a, _, refA) = NewHost();
        var lease = await key.LeaseAsync(new LeaseRequest(a, refA, 10, 1000, default));
        Assert.Equal(100, lease.TokenBudget); // a quarter of the hour's 400
        Assert.Equal(KeyOutcome.Limited, (await key.ValidateAsync(301)).Outcome);
        await key.ReturnAsync(a, new LeaseReport(lease.GrantedAt, 3, lease.Granted - 3, 30, 70));
        Assert.Equal(KeyOutcome.Valid, (await key.ValidateAsync(370)).Outcome);
        Assert.Equal(400, (await key.GetUsageAsync()).TokensUsed);
    }

    [Fact]
    public async Task A_revocation_is_acknowledged_after_every_holder_dropped_its_lease()
    {
        var key = await IssuedAsync(new RateLimits(1000, 10000, 0, 1000));
        var (a, hostA, refA) = NewHost();
        var (b, hostB, refB) = NewHost();
        var leaseA = await key.LeaseAsync(new LeaseRequest(a, refA, 50, 0, default));
        await key.LeaseAsync(new LeaseRequest(b, refB, 50, 0, default));
        hostA.Report = new LeaseReport(leaseA.GrantedAt, 7, leaseA.Granted - 7, 0, 0);

        await key.RevokeAsync();

        Assert.Single(hostA.Drops);
        Assert.Single(hostB.Drops);
        Assert.Equal(7, (await key.GetUsageAsync()).TotalRequests); // what A spent was reported with the drop
        var after = await key.LeaseAsync(new LeaseRequest(a, refA, 50, 0, default));
        Assert.Equal(0, after.Granted);
        Assert.Equal(KeyOutcome.Revoked, after.Refusal!.Outcome);
    }

    [Fact]
    public async Task A_holder_that_does_not_answer_delays_a_change_until_its_lease_has_run_out()
    {
        var key = await IssuedAsync(new RateLimits(1000, 10000, 0, 1000));
        var (a, hostA, refA) = NewHost();
        hostA.Silent = true;
        var lease = await key.LeaseAsync(new LeaseRequest(a, refA, 50, 0, default));
        var leaseEnds = new DateTimeOffset(lease.GrantedAt, TimeSpan.Zero) + lease.Period;

        await key.SetLimitsAsync(new RateLimits(10, 100, 0, 10));

        Assert.Single(hostA.Drops);
        // Only once the silent host's lease could no longer be used is the change acknowledged.
        Assert.True(DateTimeOffset.UtcNow >= leaseEnds, $"acknowledged at {DateTimeOffset.UtcNow:O}, lease ran until {leaseEnds:O}");
    }
    /// <summary>A refusal for a limit may be answered by the host on its own until the limit reopens only while no other
    /// host holds a grant: that host's refund would reopen it early.</summary>
    [Fact]
    public async Task A_limit_refusal_holds_on_the_host_only_while_no_other_host_holds_a_grant()
    {
        var key = await IssuedAsync(new RateLimits(8, 1000, 0, 8));
        var (a, hostA, refA) = NewHost();
        var (b, _, refB) = NewHost();
        var held = await key.LeaseAsync(new LeaseRequest(b, refB, 100, 0, default));
        Assert.Equal(2, held.Granted);

        // A takes the rest, reporting each grant spent with the next request.
        var (refusal, admitted) = await ExhaustAsync(key, a, refA);
        Assert.Equal(6, admitted);
        Assert.Equal(KeyOutcome.Limited, refusal.Refusal!.Outcome);
        Assert.Equal(TimeSpan.Zero, refusal.LimitedFor);

        // B gives its grant back: capacity reopens at once, which a memo on A would have hidden.
        await key.ReturnAsync(b, new LeaseReport(held.GrantedAt, 0, held.Granted, 0, 0));
        (refusal, admitted) = await ExhaustAsync(key, a, refA);
        Assert.Equal(2, admitted);

        // Now nothing but time (or a change of the key) reopens the minute's window.
        Assert.Equal("requestsPerMinute", refusal.Refusal!.LimitedBy);
        Assert.InRange(refusal.LimitedFor, TimeSpan.FromTicks(1), ApiKeyGrain.MemoLimit);
        Assert.True(refusal.LimitedFor <= TimeSpan.FromSeconds(refusal.Refusal.RetryAfterSeconds));
        Assert.Empty(hostA.Drops);

        // A host holding only a memo is told of a change like a lease holder.
        await key.SetLimitsAsync(new RateLimits(100, 1000, 0, 100));
        Assert.Single(hostA.Drops);
    }

    /// <summary>A grant whose host never reported is given up once its lease has lapsed, and a report coming after that
    /// refunds nothing: so a memo given once no grant is held cannot be made early by a late refund.</summary>
    [Fact]
    public async Task A_late_report_of_a_given_up_grant_refunds_nothing_so_a_memo_given_before_it_stays_exact()
    {
        var key = await IssuedAsync(new RateLimits(8, 1000, 0, 8));
        var (a, _, refA) = NewHost();
        var (b, _, refB) = NewHost();
        var held = await key.LeaseAsync(new LeaseRequest(b, refB, 100, 0, default));
        Assert.Equal(2, held.Granted);
        // The grain gives a grant up a lease period after it lapsed.
        var givenUp = new DateTimeOffset(held.GrantedAt, TimeSpan.Zero) + held.Period * 2 + TimeSpan.FromMilliseconds(50);
        if (givenUp > DateTimeOffset.UtcNow)
        {
            await Task.Delay(givenUp - DateTimeOffset.UtcNow);
        }

        var (refusal, admitted) = await ExhaustAsync(key, a, refA);
        Assert.Equal(6, admitted);
        Assert.True(refusal.LimitedFor > TimeSpan.Zero);

        await key.ReturnAsync(b, new LeaseReport(held.GrantedAt, 0, held.Granted, 0, 0));
        Assert.Equal(0, (await key.LeaseAsync(new LeaseRequest(a, refA, 1, 0, default))).Granted);
    }

    /// <summary>The limit's own time bounds the memo, and a memo is not given while a refund can still come.</summary>
    [Fact]
    public async Task A_burst_refusal_holds_until_the_bucket_refills_and_not_while_the_hosts_own_grant_is_out()
    {
        // 6 a minute refills a token every 10 s.
        var key = await IssuedAsync(new RateLimits(6, 1000, 0, 1));
        var (a, _, refA) = NewHost();
        var lease = await key.LeaseAsync(new LeaseRequest(a, refA, 1, 0, default));
        Assert.Equal(1, lease.Granted);
        // Asked again before reporting the grant: it could still come back unspent.
        var early = await key.LeaseAsync(new LeaseRequest(a, refA, 1, 0, default));
        Assert.Equal("burstLimit", early.Refusal!.LimitedBy);
        Assert.Equal(TimeSpan.Zero, early.LimitedFor);
        var reported = await key.LeaseAsync(new LeaseRequest(a, refA, 1, 0, new LeaseReport(lease.GrantedAt, 1, 0, 0, 0)));
        Assert.Equal("burstLimit", reported.Refusal!.LimitedBy);
        Assert.InRange(reported.LimitedFor, TimeSpan.FromTicks(1), TimeSpan.FromSeconds(10));
    }

    /// <summary>A new activation does not know the hosts answering a limit on their own: the one going away tells them.</summary>
    [Fact]
    public async Task A_deactivating_key_grain_ends_the_hosts_memos()
    {
        var key = await IssuedAsync(new RateLimits(4, 1000, 0, 4));
        var (a, hostA, refA) = NewHost();
        var (refusal, _) = await ExhaustAsync(key, a, refA);
        Assert.True(refusal.LimitedFor > TimeSpan.Zero);

        await key.Cast<IGrainManagementExtension>().DeactivateOnIdle();

        await TestEnvironment.Eventually(() => Task.FromResult(hostA.Drops.Count), n => n == 1, what: "the memo holder to be told");
    }

    /// <summary>Leases until the grain refuses, each grant reported spent with the next request.</summary>
    private static async Task<(KeyLease Refusal, int Admitted)> ExhaustAsync(IApiKeyGrain key, string host, IKeyLeaseHolder holder)
    {
        var admitted = 0;
        LeaseReport previous = default;
        for (var i = 0; i < 100; i++)
        {
            var answer = await key.LeaseAsync(new LeaseRequest(host, holder, 100, 0, previous));
            if (answer.Granted == 0)
            {
                return (answer, admitted);
            }
            admitted += answer.Granted;
            previous = new LeaseReport(answer.GrantedAt, answer.Granted, 0, 0, 0);
        }
        throw new InvalidOperationException("the key was never exhausted");
    }
}
