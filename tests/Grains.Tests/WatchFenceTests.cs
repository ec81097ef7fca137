using Inference.Grains.Abstractions;
using Inference.Grains.Abstractions.Events;
using Inference.Grains.Abstractions.Models;
using Inference.TestSupport;

namespace Inference.Grains.Tests;

/// <summary>The fence across a change of the cluster watch's holder: the watch lease's epoch, the Model grain that
/// ignores hand-overs from an epoch older than one it knows of, and the holder that starts a new tenure when its lease
/// went to another holder and came back.</summary>
[Collection(ClusterCollection.Name)]
public sealed class WatchFenceTests(ClusterFixture fixture)
{
    private static readonly ModelSpec Sklearn = new("sklearn", "s3://bucket/iris", 1, 2, 10, "rps");

    private static string NewName(string prefix) => prefix + Guid.NewGuid().ToString("N")[..8];

    private IModelGrain Model(string ns, string name) => fixture.Grains.GetGrain<IModelGrain>(GrainKeys.Scoped(ns, name));

    /// <summary>The InferenceService as a watch saw it: Ready or not, at a resourceVersion.</summary>
    private static InferenceServiceSnapshot Seen(string uid, bool ready, string resourceVersion) => new(uid, Sklearn,
        new ObservedStatus(ready, ready ? "http://m.example" : null,
            [new ModelCondition("Ready", ready ? "True" : "False", null, null, DateTimeOffset.UnixEpoch)], resourceVersion, 1),
        DateTimeOffset.UtcNow.AddMinutes(-5), 1);

    /// <summary>The sequence number the tenant's stream gives an event of the test's own: two of these differ by one
    /// when no event was published between them.</summary>
    private Task<long> NextSequence(string tenant) => fixture.Grains.GetGrain<ITenantEventsGrain>(tenant)
        .PublishAsync(new ChangeEvent(ChangeTypes.ModelUpdated, tenant, "model", "probe", DateTimeOffset.UtcNow, 0, null));

    [Fact]
    public async Task A_late_hand_over_from_a_superseded_holder_is_ignored_and_announces_nothing()
    {
        var tenant = NewName("fence-");
        var model = Model(tenant, NewName("m"));
        var uid = Guid.NewGuid().ToString();
        var old = await fixture.WatchEpochAsync();

        // The next holder of the lease (one epoch on) lists the InferenceService: Ready.
        await model.ObserveAsync(Seen(uid, ready: true, "12"), old + 1);
        var before = await NextSequence(tenant);

        // The old holder's hand-overs, sent before it learned that it lost the lease, land now: each would undo the
        // newer state (Pending again, other replica counts, the model gone).
        await model.ObserveAsync(Seen(uid, ready: false, "11"), old);
        await model.ObserveReplicasAsync(new ReplicaCounts(1, 0, 1), old);
        await model.ObserveDeletedAsync(uid, old);
        await model.ObserveAbsentAsync(DateTimeOffset.UtcNow.AddMinutes(1), old);

        var view = (await model.GetAsync()).Value!;
        Assert.True(view.Ready);
        Assert.Equal(new ReplicaCounts(1, 0, 0), view.Replicas);
        Assert.Equal(before + 1, await NextSequence(tenant));

        // The new holder's own later hand-overs still apply.
        await model.ObserveAsync(Seen(uid, ready: false, "13"), old + 1);
        Assert.False((await model.GetAsync()).Value!.Ready);
    }

    [Fact]
    public async Task A_fresh_activation_ignores_hand_overs_from_holders_before_the_current_one()
    {
        var model = Model(NewName("fence-"), NewName("m"));
        var uid = Guid.NewGuid().ToString();
        var current = await fixture.WatchEpochAsync();
        await model.ObserveAsync(Seen(uid, ready: true, "12"), current);

        // The grain activates again (as when its silo dies) and forgets the epochs it saw; a hand-over from an earlier
        // holder lands on the new activation.
        await fixture.Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        await model.ObserveAsync(Seen(uid, ready: false, "11"), current - 1);

        Assert.True((await model.GetAsync()).Value!.Ready);
    }

    [Fact]
    public async Task The_lease_epoch_moves_on_only_with_a_new_holder_and_survives_the_lease_grain_activating_again()
    {
        var lease = fixture.Grains.GetGrain<IWatchLeaseGrain>("test-" + Guid.NewGuid());
        var collect = () => fixture.Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        Assert.Equal(new WatchLeaseGrant(null, 0), await lease.GetAsync());
        Assert.Equal(1, await lease.TryAcquireAsync("silo-1", TimeSpan.FromMinutes(1)));
        // Renewals keep the epoch: a holder's hand-overs are never fenced by its own renewals.
        Assert.Equal(1, await lease.TryAcquireAsync("silo-1", TimeSpan.FromMinutes(1)));
        Assert.Null(await lease.TryAcquireAsync("silo-2", TimeSpan.FromMinutes(1)));
        await lease.ReleaseAsync("silo-1");
        // Granted already expired: a holder that stopped renewing.
        Assert.Equal(2, await lease.TryAcquireAsync("silo-2", TimeSpan.FromSeconds(-1)));

        // The lease grain activates again (as on another silo after its own died): the lease counts as lapsed, but its
        // epoch goes on from where it was.
        await collect();
        Assert.Equal(new WatchLeaseGrant("silo-2", 2), await lease.GetAsync());
        Assert.Equal(3, await lease.TryAcquireAsync("silo-3", TimeSpan.FromMinutes(1)));

        // The last holder asking first after a re-activation keeps its epoch: nothing of another holder came between.
        await collect();
        Assert.Equal(3, await lease.TryAcquireAsync("silo-3", TimeSpan.FromMinutes(1)));
        Assert.Null(await lease.TryAcquireAsync("silo-1", TimeSpan.FromMinutes(1)));
    }

    [Fact]
    public async Task A_holder_whose_lease_went_to_another_and_came_back_lists_again_under_its_new_epoch()
    {
        var lease = fixture.Grains.GetGrain<IWatchLeaseGrain>(IWatchLeaseGrain.ClusterWatch);
        long? back = null;
        for (var attempt = 0; back is null; attempt++)
        {
            Assert.True(attempt < 5, "the lease should go to another holder and come back");
            var (holder, epoch) = await fixture.WatchLeaseAsync();
            // Another holder takes the lease and is gone at once (its grant already expired); then the lease comes
            // back to the first holder before that renews, as when its silo was too slow to renew in time. (The other
            // silo may take the lease in between, or the holder may just have lost it; then this is tried again.)
            await lease.ReleaseAsync(holder!);
            if (await lease.TryAcquireAsync("gone-" + Guid.NewGuid(), TimeSpan.FromSeconds(-1)) == epoch + 1)
            {
                back = await lease.TryAcquireAsync(holder!, TimeSpan.FromSeconds(15));
            }
        }

        // Stamped with its old epoch, the holder's hand-overs would be fenced by every grain that learned of the newer
        // one: a model activated now learns it from the lease, so it would never hear from the watch.
        var name = NewName("m");
        Assert.True((await Model("tenant-b", name).CreateAsync(Sklearn)).IsSuccess);
        await TestEnvironment.Eventually(async () => (await Model("tenant-b", name).GetAsync()).Value!, v => v.Ready,
            what: "the watch to bring the new model to Ready");
    }
}
