using Inference.Grains.Abstractions.Keys;
using Inference.Grains.Abstractions.Publishing;
using Inference.Grains.Keys;
using Microsoft.Extensions.DependencyInjection;
using Inference.TestSupport;
using Orleans.Core.Internal;

namespace Inference.Grains.Tests;

/// <summary>Validations decided directly against a key's activation by an API host in the same process
/// (<see cref="LocalApiKeys"/>), mixed with grain calls from elsewhere, across the test cluster's two silos.</summary>
[Collection(ClusterCollection.Name)]
public sealed class DirectValidationTests(ClusterFixture fixture)
{
    private async Task<(IApiKeyGrain Grain, string Hash)> IssuedAsync(RateLimits limits)
    {
        var hash = "direct-" + Guid.NewGuid().ToString("N");
        var grain = fixture.Grains.GetGrain<IApiKeyGrain>(hash);
        await grain.IssueAsync(new KeyGrant("tenant-a", "m", limits, null, UsageCounters.Zero));
        return (grain, hash);
    }

    private IEnumerable<LocalApiKeys> Silos => fixture.Cluster.Silos.Select(s => s.ServiceProvider.GetRequiredService<LocalApiKeys>());

    /// <summary>The silo whose activation of the key takes direct validations (found by validating once there).</summary>
    private LocalApiKeys HostOf(string hash) =>
        Silos.Single(silo => silo.TryValidate(hash, 0, null, out var check) && check.Outcome == KeyOutcome.Valid);

    /// <summary>One validation: directly where the key's activation takes it, else by a grain call (what
    /// <c>KeyValidationBatcher</c> does).</summary>
    private Task<KeyCheck> ValidateAsync(LocalApiKeys silo, string hash) =>
        silo.TryValidate(hash, 0, null, out var check) ? Task.FromResult(check) : fixture.Grains.GetGrain<IApiKeyGrain>(hash).ValidateAsync(0);

    [Fact]
    public async Task Direct_validations_and_grain_calls_on_one_key_count_together_exactly()
    {
        var (grain, hash) = await IssuedAsync(new RateLimits(100, 1000, 0, 100));
        var silo = HostOf(hash);

        // 150 direct validations on threads of their own, racing 150 grain calls: the per-minute limit still holds exactly.
        var direct = Enumerable.Range(0, 150).Select(_ => Task.Run(() => silo.TryValidate(hash, 0, null, out var c) ? c : null));
        var calls = Enumerable.Range(0, 150).Select(_ => grain.ValidateAsync(0));
        var checks = await Task.WhenAll(direct.Concat(calls.Select(async c => (KeyCheck?)await c)));

        Assert.All(checks, c => Assert.NotNull(c));
        Assert.Equal(99, checks.Count(c => c!.Outcome == KeyOutcome.Valid)); // the 100th was HostOf's
        Assert.Equal(201, checks.Count(c => c!.Outcome == KeyOutcome.Limited));
        Assert.Equal(100, (await grain.GetUsageAsync()).TotalRequests);

        // A revocation through the grain applies to direct validations at once.
        await grain.RevokeAsync();
        Assert.True(silo.TryValidate(hash, 0, null, out var revoked));
        Assert.Equal(KeyOutcome.Revoked, revoked.Outcome);
    }

    [Fact]
    public async Task A_deactivated_key_stops_taking_direct_validations_and_keeps_what_they_counted()
    {
        var (grain, hash) = await IssuedAsync(new RateLimits(1000, 10000, 0, 1000));
        var silo = HostOf(hash);
        var counted = 1;
        for (var i = 0; i < 9; i++)
        {
            Assert.True(silo.TryValidate(hash, 0, null, out _));
            counted++;
        }

        await grain.Cast<IGrainManagementExtension>().DeactivateOnIdle();
        // Each probe taken before the deactivation is one more request counted.
        await TestEnvironment.Eventually(() => Task.FromResult(silo.TryValidate(hash, 0, null, out _) && ++counted > 0), taken => !taken,
            what: "the deactivated key to leave the silo's direct validations");

        // Written on deactivation, read back by the next activation (made by this grain call).
        Assert.Equal(counted, (await grain.GetUsageAsync()).TotalRequests);
    }

    [Fact]
    public async Task A_key_used_only_directly_is_kept_from_idle_collection()
    {
        var (_, hash) = await IssuedAsync(new RateLimits(1000, 10000, 0, 1000));
        var silo = HostOf(hash);

        // Direct validations are no grain calls: to Orleans the activation looks idle. Its write-behind timer (which
        // has ticked by now, twice over) saw them and asked to be kept.
        await Task.Delay(ApiKeyGrain.FlushPeriod * 3);
        await fixture.Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);

        Assert.True(silo.TryValidate(hash, 0, null, out var check));
        Assert.Equal(KeyOutcome.Valid, check.Outcome);
    }

    [Fact]
    public async Task Rotation_under_direct_load_neither_loses_nor_doubles_a_request()
    {
        var (grain, hash) = await IssuedAsync(new RateLimits(10_000_000, 100_000_000, 0, 10_000_000));
        var silo = HostOf(hash);
        var successor = "direct-" + Guid.NewGuid().ToString("N");
        using var stop = new CancellationTokenSource();
        var valid = 1L; // HostOf's

        var load = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await Task.Yield(); // a direct validation completes synchronously: leave threads to the silos
                if ((await ValidateAsync(silo, hash)).Outcome == KeyOutcome.Valid)
                {
                    Interlocked.Increment(ref valid);
                }
            }
        })).ToArray();
        await Task.Delay(200);
        // With a grace period: the old key answers through its successor from now on.
        await grain.RotateToAsync(successor, new KeyGrant("tenant-a", "m", new RateLimits(10_000_000, 100_000_000, 0, 10_000_000), null,
            UsageCounters.Zero), DateTimeOffset.UtcNow.AddHours(1));
        await Task.Delay(200);
        stop.Cancel();
        await Task.WhenAll(load);

        // Every admitted request is counted once, on one side of the hand-over or the other: the successor started
        // from the old key's count at the moment of rotation and counted the rest.
        var usage = await fixture.Grains.GetGrain<IApiKeyGrain>(successor).GetUsageAsync();
        Assert.Equal(Interlocked.Read(ref valid), usage.TotalRequests);
        Assert.False(silo.TryValidate(hash, 0, null, out _)); // forwarding: only through the grain call
    }
}
