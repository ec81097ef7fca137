using System.Net;
using System.Text.Json;
using Inference.Grains.Abstractions;
using Inference.Grains.Abstractions.Models;
using Inference.Grains.Abstractions.Tenants;
using Inference.TestSupport;
using k8s;

namespace Inference.Grains.Tests;

[Collection(ClusterCollection.Name)]
public sealed class ModelGrainTests(ClusterFixture fixture)
{
    private static readonly ModelSpec Sklearn = new("sklearn", "s3://bucket/iris", 1, 2, 10, "rps");

    private static string NewName() => "g" + Guid.NewGuid().ToString("N")[..8];

    private IModelGrain Model(string ns, string name) => fixture.Grains.GetGrain<IModelGrain>(GrainKeys.Scoped(ns, name));

    private Task<long> WatchEpoch() => fixture.WatchEpochAsync();

    private IKubernetes Kubernetes() =>
        new k8s.Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(fixture.Emulator.KubeconfigPath));

    private async Task<JsonElement?> InferenceService(string ns, string name)
    {
        try
        {
            return (JsonElement)await Kubernetes().CustomObjects.GetNamespacedCustomObjectAsync("serving.kserve.io", "v1beta1", ns, "inferenceservices", name);
        }
        catch (k8s.Autorest.HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    [Fact]
    public async Task Create_writes_a_labelled_InferenceService_and_indexes_the_model_in_its_tenant()
    {
        var name = NewName();
        var result = await Model("tenant-a", name).CreateAsync(Sklearn);

        Assert.True(result.IsSuccess, result.Error?.ToString());
        Assert.Equal(Sklearn, result.Value!.Predictor);
        var isvc = await InferenceService("tenant-a", name);
        Assert.NotNull(isvc);
        var labels = isvc.Value.GetProperty("metadata").GetProperty("labels");
        Assert.Equal("inference-management", labels.GetProperty("app.kubernetes.io/managed-by").GetString());
        Assert.Equal("tenant-a", labels.GetProperty("inference-in-a-box.io/tenant").GetString());
        var predictor = isvc.Value.GetProperty("spec").GetProperty("predictor");
        Assert.Equal("sklearn", predictor.GetProperty("model").GetProperty("modelFormat").GetProperty("name").GetString());
        Assert.Equal("rps", predictor.GetProperty("scaleMetric").GetString());
        Assert.Contains(name, await fixture.Grains.GetGrain<ITenantGrain>("tenant-a").GetModelNamesAsync());
        Assert.Contains("tenant-a", await fixture.Grains.GetGrain<ITenantDirectoryGrain>(0).ListAsync());
    }

    [Fact]
    public async Task A_model_read_back_from_storage_lends_its_status_to_no_model_created_after_it()
    {
        // A Ready model, then a fresh activation of it that reads its state from storage.
        var ready = Model("tenant-a", NewName());
        Assert.True((await ready.CreateAsync(Sklearn)).IsSuccess);
        await TestEnvironment.Eventually(() => ready.GetAsync(), r => r.Value?.Ready == true, what: "the model to become Ready");
        await fixture.Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        Assert.True((await ready.GetAsync()).Value!.Ready);

        // A model created now knows only what its create response said: no status yet. (Reading state used to fill
        // the shared ObservedStatus.Pending in place, so this model started out Ready with the other one's URL.)
        var created = await Model("tenant-a", NewName()).CreateAsync(Sklearn);
        Assert.False(created.Value!.Ready);
        Assert.Equal("Pending", created.Value.Status);
        Assert.Null(created.Value.Url);
        Assert.Empty(created.Value.Conditions);
    }

    [Fact]
    public async Task A_create_whose_tenant_index_cannot_be_written_leaves_neither_an_InferenceService_nor_a_record()
    {
        var name = NewName();
        FailingStorage.FailWritesOf("tenant-b");
        try
        {
            await Assert.ThrowsAnyAsync<Exception>(() => Model("tenant-b", name).CreateAsync(Sklearn));
        }
        finally
        {
            FailingStorage.Heal("tenant-b");
        }

        Assert.Null(await InferenceService("tenant-b", name));
        Assert.False((await Model("tenant-b", name).GetAsync()).IsSuccess);
        // Fresh activations read storage: the model's record, written before the index failed, is a tombstone now.
        await fixture.Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        Assert.False((await Model("tenant-b", name).GetAsync()).IsSuccess);
        Assert.DoesNotContain(name, await fixture.Grains.GetGrain<ITenantGrain>("tenant-b").GetModelNamesAsync());
    }

    [Fact]
    public async Task A_change_that_could_not_be_written_is_never_shown_and_arrives_once_storage_is_back()
    {
        var name = NewName();
        var key = GrainKeys.Scoped("tenant-c", name);
        Assert.True((await Model("tenant-c", name).CreateAsync(Sklearn)).IsSuccess);
        await TestEnvironment.Eventually(async () => (await Model("tenant-c", name).GetAsync()).Value!, v => v.Ready, what: "Ready");

        FailingStorage.FailWritesOf(key);
        try
        {
            // The cluster reports the model not Ready; the grain cannot record that.
            var notReady = new { status = new { conditions = new[] { new { type = "Ready", status = "False", reason = "PredictorNotReady", lastTransitionTime = DateTime.UtcNow.ToString("O")[..19] + "Z" } } } };
            await Kubernetes().CustomObjects.PatchNamespacedCustomObjectStatusAsync(
                new k8s.Models.V1Patch(JsonSerializer.Serialize(notReady), k8s.Models.V1Patch.PatchType.MergePatch),
                "serving.kserve.io", "v1beta1", "tenant-c", "inferenceservices", name);
            await TestEnvironment.Eventually(() => Task.FromResult(FailingStorage.FailedWrites(key)), n => n >= 2,
                what: "the grain to try (and fail) to write the change, and the watch to retry it");

            // Readers keep seeing what storage holds, however often they ask and whichever activation answers.
            for (var i = 0; i < 10; i++)
            {
                Assert.True((await Model("tenant-c", name).GetAsync()).Value!.Ready);
                await Task.Delay(50);
            }
        }
        finally
        {
            FailingStorage.Heal(key);
        }

        // The watch retries until the change is written; only then do readers see it.
        await TestEnvironment.Eventually(async () => (await Model("tenant-c", name).GetAsync()).Value!, v => !v.Ready,
            what: "the change to be written and shown once storage works again");
    }

    [Fact]
    public async Task The_cluster_watch_brings_the_model_to_Ready()
    {
        var name = NewName();
        Assert.True((await Model("tenant-b", name).CreateAsync(Sklearn)).IsSuccess);
        var ready = await TestEnvironment.Eventually(async () => (await Model("tenant-b", name).GetAsync()).Value!, v => v.Ready, what: "Ready");
        Assert.Equal("Ready", ready.Status);
        Assert.NotNull(ready.Url);
    }

    [Fact]
    public async Task Invalid_specs_are_refused_before_anything_reaches_Kubernetes()
    {
        var name = NewName();
        var result = await Model("tenant-a", name).CreateAsync(Sklearn with { MinReplicas = 3, MaxReplicas = 2 });
        Assert.Equal(ErrorKind.Invalid, result.Error!.Kind);
        Assert.Null(await InferenceService("tenant-a", name));
        Assert.Equal(ErrorKind.NotFound, (await Model("tenant-a", name).GetAsync()).Error!.Kind);
    }

    [Fact]
    public async Task A_second_create_conflicts_and_a_missing_model_is_not_found()
    {
        var name = NewName();
        Assert.True((await Model("tenant-a", name).CreateAsync(Sklearn)).IsSuccess);
        Assert.Equal(ErrorKind.Conflict, (await Model("tenant-a", name).CreateAsync(Sklearn)).Error!.Kind);
        var missing = Model("tenant-a", NewName());
        Assert.Equal(ErrorKind.NotFound, (await missing.UpdateAsync(new ModelSpecPatch(MinReplicas: 2))).Error!.Kind);
        Assert.Equal(ErrorKind.NotFound, (await missing.DeleteAsync()).Error!.Kind);
    }

    [Fact]
    public async Task A_name_taken_in_Kubernetes_by_someone_else_is_a_conflict_and_records_nothing()
    {
        var name = NewName();
        await Kubernetes().CustomObjects.CreateNamespacedCustomObjectAsync(new
        {
            apiVersion = "serving.kserve.io/v1beta1",
            kind = "InferenceService",
            metadata = new { name },
            spec = new { predictor = new { model = new { modelFormat = new { name = "onnx" }, storageUri = "s3://x/y" } } },
        }, "serving.kserve.io", "v1beta1", "tenant-c", "inferenceservices");

        var result = await Model("tenant-c", name).CreateAsync(Sklearn);
        Assert.Equal(ErrorKind.Conflict, result.Error!.Kind);
        Assert.Equal(ErrorKind.NotFound, (await Model("tenant-c", name).GetAsync()).Error!.Kind);
        Assert.DoesNotContain(name, await fixture.Grains.GetGrain<ITenantGrain>("tenant-c").GetModelNamesAsync());
    }

    [Fact]
    public async Task Update_patches_the_InferenceService_and_delete_removes_it_and_the_index_entry()
    {
        var name = NewName();
        var model = Model("tenant-a", name);
        Assert.True((await model.CreateAsync(Sklearn)).IsSuccess);

        var updated = await model.UpdateAsync(new ModelSpecPatch(MinReplicas: 2, ScaleTarget: 50));
        Assert.True(updated.IsSuccess, updated.Error?.ToString());
        Assert.Equal(Sklearn with { MinReplicas = 2, ScaleTarget = 50 }, updated.Value!.Predictor);
        var predictor = (await InferenceService("tenant-a", name))!.Value.GetProperty("spec").GetProperty("predictor");
        Assert.Equal(2, predictor.GetProperty("minReplicas").GetInt32());
        Assert.Equal(50, predictor.GetProperty("scaleTarget").GetInt32());

        Assert.True((await model.DeleteAsync()).IsSuccess);
        Assert.Null(await InferenceService("tenant-a", name));
        Assert.Equal(ErrorKind.NotFound, (await model.GetAsync()).Error!.Kind);
        Assert.DoesNotContain(name, await fixture.Grains.GetGrain<ITenantGrain>("tenant-a").GetModelNamesAsync());
    }

    [Fact]
    public async Task A_status_read_again_unchanged_is_not_a_change()
    {
        // What a re-list (every restart) hands each model: the same status as last time, in new list instances.
        static InferenceServiceSnapshot Read(string uid) => new(uid, Sklearn, new ObservedStatus(true, "http://m.example",
            [new ModelCondition("Ready", "True", null, "ok", DateTimeOffset.UnixEpoch)], "42", 1), DateTimeOffset.UtcNow.AddMinutes(-5), 1);
        Assert.Equal(Read("u").Status, Read("u").Status);

        var model = Model("tenant-b", NewName());
        var uid = Guid.NewGuid().ToString();
        await model.ObserveAsync(Read(uid), await WatchEpoch());
        var first = (await model.GetAsync()).Value!;
        await Task.Delay(20);
        await model.ObserveAsync(Read(uid), await WatchEpoch());
        // Not re-dated (nor written, nor announced again): updatedAt says when the model last changed.
        Assert.Equal(first.UpdatedAt, (await model.GetAsync()).Value!.UpdatedAt);
    }

    [Fact]
    public async Task Stale_watch_events_never_resurrect_or_remove_the_wrong_model()
    {
        var name = NewName();
        var model = Model("tenant-b", name);
        var created = await model.CreateAsync(Sklearn);
        Assert.True(created.IsSuccess);

        // A DELETED event for an older object of the same name (different uid) must not drop the current one.
        await model.ObserveDeletedAsync("some-older-uid", await WatchEpoch());
        Assert.True((await model.GetAsync()).IsSuccess);

        // A full list that began before the model was recorded cannot prove it absent.
        await model.ObserveAbsentAsync(DateTimeOffset.UtcNow.AddMinutes(-1), await WatchEpoch());
        Assert.True((await model.GetAsync()).IsSuccess);

        // An event from before the grain's own latest patch (lower generation) must not roll the spec back.
        var updated = await model.UpdateAsync(new ModelSpecPatch(MaxReplicas: 4));
        Assert.True(updated.IsSuccess);
        var uid = (await InferenceService("tenant-b", name))!.Value.GetProperty("metadata").GetProperty("uid");
        await model.ObserveAsync(new InferenceServiceSnapshot(uid.GetString()!, Sklearn, ObservedStatus.Pending, DateTimeOffset.UtcNow, 1), await WatchEpoch());
        Assert.Equal(4, (await model.GetAsync()).Value!.Predictor.MaxReplicas);

        // An object older than the current one (a late event from before a delete and re-create) is not adopted.
        await model.ObserveAsync(new InferenceServiceSnapshot("uid-of-an-older-object", Sklearn, ObservedStatus.Pending, DateTimeOffset.UtcNow.AddHours(-1), 7), await WatchEpoch());
        Assert.Equal(4, (await model.GetAsync()).Value!.Predictor.MaxReplicas);

        // After a delete, a late event for the deleted object must not bring the model back.
        Assert.True((await model.DeleteAsync()).IsSuccess);
        await model.ObserveAsync(new InferenceServiceSnapshot(uid.GetString()!, Sklearn, ObservedStatus.Pending, DateTimeOffset.UtcNow, 2), await WatchEpoch());
        Assert.Equal(ErrorKind.NotFound, (await model.GetAsync()).Error!.Kind);
        Assert.DoesNotContain(name, await fixture.Grains.GetGrain<ITenantGrain>("tenant-b").GetModelNamesAsync());

        // An object on its way out (deletionTimestamp set) is never adopted.
        var other = Model("tenant-b", NewName());
        await other.ObserveAsync(new InferenceServiceSnapshot("uid-x", Sklearn, ObservedStatus.Pending, DateTimeOffset.UtcNow, 1) { Deleting = true }, await WatchEpoch());
        Assert.Equal(ErrorKind.NotFound, (await other.GetAsync()).Error!.Kind);
    }

    [Fact]
    public async Task State_survives_deactivation_because_it_is_persisted()
    {
        var name = NewName();
        Assert.True((await Model("tenant-c", name).CreateAsync(Sklearn)).IsSuccess);
        var management = fixture.Grains.GetGrain<IManagementGrain>(0);
        await management.ForceActivationCollection(TimeSpan.Zero);

        var again = await Model("tenant-c", name).GetAsync();
        Assert.True(again.IsSuccess);
        Assert.Equal(Sklearn, again.Value!.Predictor);
    }

    [Fact]
    public async Task The_watch_lease_has_one_holder_until_it_expires()
    {
        var lease = fixture.Grains.GetGrain<IWatchLeaseGrain>("test-" + Guid.NewGuid());
        Assert.NotNull(await lease.TryAcquireAsync("silo-1", TimeSpan.FromMinutes(1)));
        Assert.Null(await lease.TryAcquireAsync("silo-2", TimeSpan.FromMinutes(1)));
        Assert.NotNull(await lease.TryAcquireAsync("silo-1", TimeSpan.FromMinutes(1)));
        await lease.ReleaseAsync("silo-1");
        // A lease granted already expired stands for one whose holder stopped renewing.
        Assert.NotNull(await lease.TryAcquireAsync("silo-2", TimeSpan.FromSeconds(-1)));
        Assert.NotNull(await lease.TryAcquireAsync("silo-3", TimeSpan.FromMinutes(1)));
    }
}
