using Inference.Grains.Abstractions.Events;
using Inference.Grains.Abstractions.Callers;

namespace Inference.Grains.Tests;

[Collection(ClusterCollection.Name)]
public sealed class EventsAndLimiterTests(ClusterFixture fixture)
{
    private static ChangeEvent Draft(string tenant) =>
        new(ChangeTypes.ModelUpdated, tenant, "model", "m", DateTimeOffset.UtcNow, 0, null);

    [Fact]
    public async Task Sequence_numbers_increase_and_never_repeat_across_activations()
    {
        var tenant = "seq-" + Guid.NewGuid().ToString("N")[..8];
        var events = fixture.Grains.GetGrain<ITenantEventsGrain>(tenant);
        var numbers = new List<long>();
        for (var i = 0; i < 5; i++)
        {
            numbers.Add(await events.PublishAsync(Draft(tenant)));
        }
        Assert.Equal(Enumerable.Range((int)numbers[0], 5).Select(n => (long)n), numbers);

        // A fresh activation (as after a silo's death) continues above every number handed out.
        await fixture.Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        var next = await events.PublishAsync(Draft(tenant));
        Assert.Equal(numbers[0] + Events.TenantEventsGrain.Block, next); // the first activation reserved 1..1000

        // Streams are per tenant: another tenant numbers independently.
        var other = "seq-" + Guid.NewGuid().ToString("N")[..8];
        Assert.Equal(1, await fixture.Grains.GetGrain<ITenantEventsGrain>(other).PublishAsync(Draft(other)));
    }

    [Fact]
    public async Task The_caller_limiter_enforces_the_window_and_the_burst_exactly()
    {
        // Windows of an hour make the outcome independent of how fast the test runs.
        var window = fixture.Grains.GetGrain<ICallerLimiterGrain>("limit-" + Guid.NewGuid());
        var policy = new RatePolicy(Limit: 3, Window: TimeSpan.FromHours(1), Burst: 100, BurstWindow: TimeSpan.FromHours(1));
        for (var i = 1; i <= 3; i++)
        {
            var d = await window.AcquireAsync(policy);
            Assert.True(d.Allowed);
            Assert.Equal(3 - i, d.Remaining);
            Assert.Equal(3, d.Limit);
        }
        var refused = await window.AcquireAsync(policy);
        Assert.False(refused.Allowed);
        Assert.Equal(0, refused.Remaining);
        Assert.InRange(refused.RetryAfter, TimeSpan.FromMinutes(59), TimeSpan.FromHours(1));

        var burst = fixture.Grains.GetGrain<ICallerLimiterGrain>("burst-" + Guid.NewGuid());
        var burstPolicy = new RatePolicy(Limit: 100, Window: TimeSpan.FromHours(1), Burst: 2, BurstWindow: TimeSpan.FromHours(1));
        Assert.True((await burst.AcquireAsync(burstPolicy)).Allowed);
        Assert.True((await burst.AcquireAsync(burstPolicy)).Allowed);
        var burstRefused = await burst.AcquireAsync(burstPolicy);
        Assert.False(burstRefused.Allowed);
        Assert.Equal(98, burstRefused.Remaining); // refused requests are not counted
    }
}
