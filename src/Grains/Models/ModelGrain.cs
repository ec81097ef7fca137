using Inference.Grains.Abstractions;
using Inference.Grains.Abstractions.Events;
using Inference.Grains.Abstractions.Models;
using Inference.Grains.Abstractions.Publishing;
using Inference.Grains.Abstractions.Tenants;
using Inference.Grains.Events;
using Inference.Grains.Kubernetes;
using Inference.Grains.Tenants;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Inference.Shared.Models;
using Inference.Shared.Kubernetes;

namespace Inference.Grains.Models;

/// <summary>Owns one model: its desired spec, the InferenceService that realises it, and what the cluster last
/// reported about it. Kubernetes is written first and grain state second, so state never claims a resource that
/// does not exist.</summary>
public sealed class ModelGrain(
    [PersistentState("model", StorageNames.State)] IPersistentState<ModelState> state,
    IInferenceServices inferenceServices,
    IOptions<ModelStorageOptions> storage,
    TimeProvider time,
    WatchMetrics watchMetrics,
    ILogger<ModelGrain> logger) : Grain, IModelGrain
{
    private static readonly ApiError NotFound = new(ErrorKind.NotFound, "Model not found");

    private string Namespace => GrainKeys.Split(this.GetPrimaryKeyString()).Namespace;

    private string Name => GrainKeys.Split(this.GetPrimaryKeyString()).Name;

    /// <summary>What readers see: the model as last written to storage. A read interleaved with a write under way
    /// must not see a state that the write could still fail to make durable.</summary>
    private ModelView? _committed;

    private ModelState Model => state.State;

    /// <summary>The newest epoch of the watch lease this activation knows of (null until its first hand-over from the
    /// watch): the fence. In memory only, so that an unchanged status read again by a new holder's list costs no write;
    /// see <see cref="FencedAsync"/> for why that is enough.</summary>
    private long? _epoch;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _committed = Model.Exists ? View() : null;
        return Task.CompletedTask;
    }

    public async Task<Result<ModelView>> CreateAsync(ModelSpec spec)
    {
        if ((ModelRules.CheckName(Name) ?? ModelRules.Check(spec, storage.Value)) is { } invalid)
        {
            return invalid;
        }
        if (Model.Exists)
        {
            return new ApiError(ErrorKind.Conflict, "Model already exists", $"Model '{Name}' already exists in namespace '{Namespace}'");
        }
        var tenant = GrainFactory.GetGrain<ITenantGrain>(Namespace);
        var replicas = TenantQuotaOptions.ReplicasOf(spec);
        var reserved = await tenant.ReserveModelAsync(Name, replicas);
        if (!reserved.IsSuccess)
        {
            return reserved.Error!;
        }
        InferenceServiceSnapshot created;
        try
        {
            created = await inferenceServices.CreateAsync(Namespace, Name, spec);
        }
        catch (Exception e)
        {
            await tenant.ReleaseModelAsync(Name);
            if (e is not KubernetesCallException k)
            {
                throw;
            }
            return k.Error.Kind == ErrorKind.Conflict
                ? k.Error with { Error = "Model already exists" }
                : k.Error;
        }

        var now = time.GetUtcNow();
        Adopt(created, now);
        try
        {
            await CommitAsync();
            await tenant.AddModelAsync(_committed!, replicas);
        }
        catch (Exception e)
        {
            // The InferenceService must not outlive a record we failed to keep.
            logger.LogError(e, "Persisting model {Namespace}/{Name} failed; removing its InferenceService", Namespace, Name);
            try
            {
                // Also drops the index entry, should the failure have come after it was written.
                await tenant.RemoveModelAsync(Name);
            }
            catch (Exception indexError)
            {
                logger.LogWarning(indexError, "Releasing the quota of model {Namespace}/{Name} failed", Namespace, Name);
            }
            var gone = Model.GoneUids;
            Remember(gone, created.Uid);
            state.State = new ModelState { GoneUids = gone };
            _committed = null;
            await inferenceServices.DeleteAsync(Namespace, Name);
            // The record may have been written before the index update failed: replace it with the tombstone, or a
            // later activation would show a model whose InferenceService is gone.
            try
            {
                await state.WriteStateAsync();
            }
            catch (Exception writeError)
            {
                logger.LogWarning(writeError, "Clearing the record of model {Namespace}/{Name} failed", Namespace, Name);
                DeactivateOnIdle();
            }
            throw;
        }
        logger.LogInformation("Model {Namespace}/{Name} created ({Framework})", Namespace, Name, spec.Framework);
        await PublishAsync(ChangeTypes.ModelCreated, _committed!);
        return Result<ModelView>.Ok(_committed!);
    }

    public Task<Result<ModelView>> GetAsync() =>
        Task.FromResult(_committed is { } view ? Result<ModelView>.Ok(view) : NotFound);

    public async Task<Result<ModelView>> UpdateAsync(ModelSpecPatch patch)
    {
        if (!Model.Exists)
        {
            return NotFound;
        }
        var spec = patch.ApplyTo(Model.Spec);
        if (ModelRules.Check(spec, storage.Value) is { } invalid)
        {
            return invalid;
        }
        var tenant = GrainFactory.GetGrain<ITenantGrain>(Namespace);
        var replicas = TenantQuotaOptions.ReplicasOf(spec);
        var resized = replicas != TenantQuotaOptions.ReplicasOf(Model.Spec);
        if (resized && await tenant.ReserveModelAsync(Name, replicas) is { IsSuccess: false } refused)
        {
            return refused.Error!;
        }
        InferenceServiceSnapshot updated;
        try
        {
            updated = await inferenceServices.UpdateAsync(Namespace, Name, spec);
        }
        catch (Exception e)
        {
            if (resized)
            {
                await tenant.ReleaseModelAsync(Name);
            }
            if (e is not KubernetesCallException k)
            {
                throw;
            }
            return k.Error with { Error = "Failed to update model" };
        }
        Model.Spec = updated.Spec;
        Model.Status = updated.Status;
        Model.Generation = updated.Generation;
        Model.UpdatedAt = time.GetUtcNow();
        await CommitAsync();
        await tenant.AddModelAsync(_committed!, TenantQuotaOptions.ReplicasOf(Model.Spec));
        logger.LogInformation("Model {Namespace}/{Name} updated", Namespace, Name);
        await PublishAsync(ChangeTypes.ModelUpdated, _committed!);
        return Result<ModelView>.Ok(_committed!);
    }

    public async Task<Result<ModelView>> DeleteAsync()
    {
        if (!Model.Exists)
        {
            return NotFound;
        }
        var last = View();
        // Unpublish first: a published endpoint must not outlive (or point at) a deleted model.
        var unpublished = await GrainFactory.GetGrain<IPublishedModelGrain>(this.GetPrimaryKeyString()).UnpublishAsync();
        if (unpublished.Error is { Kind: not ErrorKind.NotFound } unpublishError)
        {
            return unpublishError with { Error = "Failed to delete model" };
        }
        try
        {
            await inferenceServices.DeleteAsync(Namespace, Name);
        }
        catch (KubernetesCallException e)
        {
            return e.Error with { Error = "Failed to delete model" };
        }
        await ForgetAsync();
        logger.LogInformation("Model {Namespace}/{Name} deleted", Namespace, Name);
        await PublishAsync(ChangeTypes.ModelDeleted, last);
        return Result<ModelView>.Ok(last);
    }

    public async Task ObserveAsync(InferenceServiceSnapshot snapshot, long epoch)
    {
        // A repeat of the resourceVersion this grain holds (a re-list, a resumed watch) compares equal below and
        // changes nothing; resourceVersions are opaque, so order comes from the epoch and the watch's lane per object.
        if (snapshot.Deleting || await FencedAsync(epoch, "change"))
        {
            return;
        }
        if (Model.GoneUids.Contains(snapshot.Uid) || (Model.Exists && Model.Uid != snapshot.Uid && snapshot.CreatedAt < Model.CreatedAt))
        {
            // A late event for an object this model already lost, or one older than the object it has now.
            return;
        }
        var now = time.GetUtcNow();
        if (!Model.Exists || Model.Uid != snapshot.Uid)
        {
            // Created outside this service (kubectl, a lost reply) but labelled as ours: adopt it.
            Adopt(snapshot, now);
            await CommitAsync();
            await RecordAsync();
            await PublishAsync(ChangeTypes.ModelCreated, _committed!);
            return;
        }
        if (snapshot.Generation < Model.Generation)
        {
            // The watch lags behind this grain's own writes: an event from before our latest patch would
            // roll the spec back until the watch caught up.
            return;
        }
        if (Model.Status == snapshot.Status && Model.Spec == snapshot.Spec)
        {
            return;
        }
        var specChanged = Model.Spec != snapshot.Spec;
        Model.Spec = snapshot.Spec;
        Model.Status = snapshot.Status;
        Model.Generation = snapshot.Generation;
        Model.UpdatedAt = now;
        await CommitAsync();
        // A spec changed outside this service (kubectl) also changes the quota share: the quota counts what the
        // cluster runs.
        await RecordAsync();
        await PublishAsync(specChanged ? ChangeTypes.ModelUpdated : ChangeTypes.ModelStatusChanged, _committed!);
    }

    public async Task ObserveReplicasAsync(ReplicaCounts replicas, long epoch)
    {
        // Fenced last: a Deployment of no model of ours (or no change) costs no call to the lease grain.
        if (!Model.Exists || Model.Replicas == replicas || await FencedAsync(epoch, "replica count"))
        {
            return;
        }
        Model.Replicas = replicas;
        await CommitAsync();
        await RecordAsync();
        await PublishAsync(ChangeTypes.ModelStatusChanged, _committed!);
    }

    public async Task ObserveDeletedAsync(string uid, long epoch)
    {
        if (!await FencedAsync(epoch, "deletion") && Model.Exists && Model.Uid == uid)
        {
            var last = View();
            await ForgetAsync();
            await PublishAsync(ChangeTypes.ModelDeleted, last);
        }
    }

    public async Task ObserveAbsentAsync(DateTimeOffset listedAt, long epoch)
    {
        if (!await FencedAsync(epoch, "absence") && Model.Exists && Model.RecordedAt < listedAt)
        {
            var last = View();
            await ForgetAsync();
            await PublishAsync(ChangeTypes.ModelDeleted, last);
        }
    }

    /// <summary>True when a hand-over comes from an older holder of the watch lease than one this grain knows of. A
    /// holder learns that it lost the lease only at its next renewal, and its hand-overs already sent land whenever
    /// they land: without the fence, one could overwrite the newer state the next holder's list brought (and announce
    /// the stale status), and nothing would correct it until the object changed again. Hand-overs of one epoch keep
    /// their order per object (the watch's lanes), so the epoch alone decides between holders.</summary>
    private async Task<bool> FencedAsync(long epoch, string what)
    {
        // A fresh activation cannot know which epochs the one before it saw. The lease's current epoch is at least as
        // new as any of them, and its holder lists every object anew, so fencing everything older loses nothing (and
        // also keeps a superseded holder from adopting an object its successor's list no longer holds).
        _epoch ??= (await GrainFactory.GetGrain<IWatchLeaseGrain>(IWatchLeaseGrain.ClusterWatch).GetAsync()).Epoch;
        if (epoch < _epoch)
        {
            watchMetrics.Fenced();
            logger.LogDebug("Model {Namespace}/{Name} ignored a {What} from watch epoch {Epoch}; it knows of epoch {Newest}",
                Namespace, Name, what, epoch, _epoch);
            return true;
        }
        _epoch = epoch;
        return false;
    }

    private void Adopt(InferenceServiceSnapshot snapshot, DateTimeOffset now)
    {
        var gone = Model.GoneUids;
        if (Model.Exists && Model.Uid != snapshot.Uid)
        {
            Remember(gone, Model.Uid);
        }
        state.State = new ModelState
        {
            GoneUids = gone,
            Exists = true,
            Uid = snapshot.Uid,
            Spec = snapshot.Spec,
            Status = snapshot.Status,
            Generation = snapshot.Generation,
            CreatedAt = snapshot.CreatedAt,
            UpdatedAt = now,
            RecordedAt = now,
        };
    }

    private async Task ForgetAsync()
    {
        // Also when the InferenceService vanished behind our back: its publication goes with it (a no-op after DeleteAsync).
        await GrainFactory.GetGrain<IPublishedModelGrain>(this.GetPrimaryKeyString()).UnpublishAsync();
        // A tombstone, not a cleared record: late watch events for the deleted object must find its uid.
        var gone = Model.GoneUids;
        Remember(gone, Model.Uid);
        state.State = new ModelState { GoneUids = gone };
        await CommitAsync();
        await GrainFactory.GetGrain<ITenantGrain>(Namespace).RemoveModelAsync(Name);
    }

    /// <summary>Writes the state and only then shows it to readers (and to the events and answers that follow, which
    /// use <see cref="_committed"/>). When the write fails, memory may be ahead of storage: the activation is dropped
    /// so that the next call starts again from what storage holds.</summary>
    private async Task CommitAsync()
    {
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            DeactivateOnIdle();
            throw;
        }
        _committed = Model.Exists ? View() : null;
    }

    private static void Remember(List<string> gone, string uid)
    {
        if (uid.Length > 0 && !gone.Contains(uid))
        {
            gone.Add(uid);
            if (gone.Count > ModelState.GoneUidsKept)
            {
                gone.RemoveAt(0);
            }
        }
    }

    /// <summary>Gives the tenant the model's committed view and quota share, so its lists show what readers here see.</summary>
    private Task RecordAsync() =>
        GrainFactory.GetGrain<ITenantGrain>(Namespace).AddModelAsync(_committed!, TenantQuotaOptions.ReplicasOf(Model.Spec));

    private Task PublishAsync(string type, ModelView view) =>
        GrainFactory.PublishChangeAsync(type, Namespace, "model", Name, view, time.GetUtcNow(), logger);

    private ModelView View()
    {
        var status = Model.Status;
        var phase = status.Ready ? "Ready"
            : status.Conditions.Any(c => c.Type == "Ready" && c.Status == "False" && IsFailure(c.Reason)) ? "Failed"
            : "Pending";
        var replicas = Model.Replicas ?? new ReplicaCounts(Model.Spec.MinReplicas ?? 1, 0, 0);
        var url = status.Url is null ? null : $"{status.Url.TrimEnd('/')}/v1/models/{Name}:predict";
        return new ModelView(Name, Namespace, phase, status.Ready, url, Model.Spec, Model.CreatedAt, Model.UpdatedAt,
            phase, replicas, status.Conditions);
    }

    private static bool IsFailure(string? reason) =>
        reason is not null && (reason.Contains("Fail", StringComparison.OrdinalIgnoreCase)
            || reason.Contains("Error", StringComparison.OrdinalIgnoreCase));
}
