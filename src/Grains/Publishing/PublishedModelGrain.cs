using Inference.Grains.Events;
using Inference.Grains.Abstractions.Events;
using Inference.Grains.Abstractions;
using Inference.Grains.Abstractions.Keys;
using Inference.Grains.Abstractions.Models;
using Inference.Grains.Abstractions.Publishing;
using Inference.Grains.Abstractions.Tenants;
using Inference.Grains.Gateway;
using Inference.Grains.Kubernetes;
using Inference.Grains.Keys;
using Microsoft.Extensions.Logging;
using Inference.Shared.Keys;
using Inference.Shared.Kubernetes;
using Inference.Shared.Publishing;

namespace Inference.Grains.Publishing;

[GenerateSerializer, Alias("inference.PublishedModelState")]
public sealed class PublishedModelState
{
    [Id(0)] public bool Exists { get; set; }
    [Id(1)] public PublishConfig? Config { get; set; }
    [Id(2)] public string KeyHash { get; set; } = "";
    [Id(3)] public string MaskedKey { get; set; } = "";
    [Id(4)] public List<GatewayObjectRef> Objects { get; set; } = [];
    [Id(5)] public DateTimeOffset CreatedAt { get; set; }
    [Id(6)] public DateTimeOffset UpdatedAt { get; set; }
    [Id(7)] public DateTimeOffset? ExpiresAt { get; set; }
}

/// <summary>Owns one publication: its config, its current key (hash and masked form only) and its gateway
/// objects. Kubernetes is written first, then the key, then this record; a failure undoes the earlier steps, so
/// there is never a half-published model.</summary>
public sealed class PublishedModelGrain(
    [PersistentState("published", StorageNames.State)] IPersistentState<PublishedModelState> state,
    IGatewayObjects gateway,
    TimeProvider time,
    ILogger<PublishedModelGrain> logger) : Grain, IPublishedModelGrain
{
    private static readonly ApiError NotPublished = new(ErrorKind.NotFound, "Published model not found");

    private string Namespace => GrainKeys.Split(this.GetPrimaryKeyString()).Namespace;

    private string Name => GrainKeys.Split(this.GetPrimaryKeyString()).Name;

    private PublishedModelState Pub => state.State;

    public async Task<Result<PublishedModelView>> PublishAsync(PublishSpec spec, NewApiKey key)
    {
        if (Pub.Exists)
        {
            return new ApiError(ErrorKind.Conflict, "Model is already published", $"Model '{Name}' is already published in namespace '{Namespace}'");
        }
        var model = await GrainFactory.GetGrain<IModelGrain>(this.GetPrimaryKeyString()).GetAsync();
        if (!model.IsSuccess)
        {
            return model.Error!;
        }
        if (!model.Value!.Ready)
        {
            return new ApiError(ErrorKind.NotReady, "Model is not ready", $"Model '{Name}' is {model.Value.Status}; only a Ready model can be published");
        }
        var now = time.GetUtcNow();
        if (spec.ExpiresAt is { } expires && expires <= now)
        {
            return new ApiError(ErrorKind.Invalid, "Invalid request format", "Field 'expiresAt' must be in the future");
        }
        var resolved = PublishRules.Resolve(Name, model.Value.Predictor, spec);
        if (!resolved.IsSuccess)
        {
            return resolved.Error!;
        }
        var config = resolved.Value!;

        // Quota, then route, then the gateway: nothing reaches the cluster for a publication that may not exist.
        var tenant = GrainFactory.GetGrain<ITenantGrain>(Namespace);
        var reserved = await tenant.ReservePublicationAsync(Name);
        if (!reserved.IsSuccess)
        {
            return reserved.Error!;
        }
        var claim = RouteClaims.For(Namespace, Name, config);
        var routes = Routes(config);
        async Task GiveBack()
        {
            await routes.ReleaseAsync(claim);
            await tenant.ReleasePublicationAsync(Name);
        }
        Result<bool> claimed;
        try
        {
            claimed = await routes.ClaimAsync(claim);
        }
        catch
        {
            await tenant.ReleasePublicationAsync(Name);
            throw;
        }
        if (!claimed.IsSuccess)
        {
            await tenant.ReleasePublicationAsync(Name);
            return claimed.Error!;
        }

        IReadOnlyList<GatewayObjectRef> objects;
        try
        {
            objects = await gateway.ApplyAsync(Namespace, Name, config, update: false);
        }
        catch (Exception e)
        {
            await GiveBack();
            if (e is not KubernetesCallException k)
            {
                throw;
            }
            return k.Error;
        }
        var keyGrain = GrainFactory.GetGrain<IApiKeyGrain>(key.Hash);
        try
        {
            await keyGrain.IssueAsync(new KeyGrant(Namespace, Name, config.RateLimiting, spec.ExpiresAt, UsageCounters.Zero, Scope: KeyScopes.Of(config)));
            state.State = new PublishedModelState
            {
                Exists = true,
                Config = config,
                KeyHash = key.Hash,
                MaskedKey = key.Masked,
                Objects = [.. objects],
                CreatedAt = now,
                UpdatedAt = now,
                ExpiresAt = spec.ExpiresAt,
            };
            await state.WriteStateAsync();
            await tenant.AddPublishedAsync(View(UsageCounters.Zero, key.Masked), key.Hash);
        }
        catch (Exception e)
        {
            logger.LogError(e, "Publishing {Namespace}/{Name} failed after the gateway objects were created; undoing", Namespace, Name);
            state.State = new PublishedModelState();
            await keyGrain.RevokeAsync();
            await gateway.DeleteAsync(objects);
            await GiveBack();
            throw;
        }
        logger.LogInformation("Model {Namespace}/{Name} published at {Url} (key {MaskedKey})", Namespace, Name, PublishUrls.ExternalUrl(config), key.Masked);
        await Announce(ChangeTypes.ModelPublished, View(UsageCounters.Zero, key.Masked));
        return Result<PublishedModelView>.Ok(View(UsageCounters.Zero, key.FullKey));
    }

    public async Task<Result<PublishedModelView>> UpdateAsync(PublishPatch patch)
    {
        if (!Pub.Exists)
        {
            return NotPublished;
        }
        var old = Pub.Config!;
        var config = old with
        {
            ExternalPath = patch.ExternalPath ?? old.ExternalPath,
            PublicHostname = patch.PublicHostname ?? old.PublicHostname,
            RateLimiting = (patch.RateLimiting ?? new RateLimitsPatch()).ApplyTo(old.RateLimiting),
            AllowedTenants = patch.AllowedTenants ?? old.AllowedTenants,
            Metadata = patch.Metadata ?? old.Metadata,
        };
        if (PublishRules.Check(config) is { } invalid)
        {
            return invalid;
        }
        // The new route is taken before the gateway moves to it and the old one given up only after: a route in
        // use is never free for another publication. Re-claiming an unchanged route changes nothing (and restores
        // a claim a publication made before claims were kept).
        var oldClaim = RouteClaims.For(Namespace, Name, old);
        var newClaim = RouteClaims.For(Namespace, Name, config);
        var oldRoutes = Routes(old);
        var newRoutes = Routes(config);
        var moved = oldRoutes.GetPrimaryKeyString() != newRoutes.GetPrimaryKeyString() || oldClaim != newClaim;
        var claimed = await newRoutes.ClaimAsync(newClaim);
        if (!claimed.IsSuccess)
        {
            return claimed.Error!;
        }
        try
        {
            await gateway.ApplyAsync(Namespace, Name, config, update: true);
        }
        catch (KubernetesCallException e)
        {
            // Some objects may carry the new spec already: put the old one back (best effort, then report).
            try
            {
                await gateway.ApplyAsync(Namespace, Name, old, update: true);
            }
            catch (KubernetesCallException restore)
            {
                logger.LogError(restore, "Restoring the gateway objects of {Namespace}/{Name} failed", Namespace, Name);
            }
            if (moved)
            {
                await newRoutes.ReleaseAsync(newClaim);
            }
            return e.Error with { Error = "Failed to update published model" };
        }
        var key = GrainFactory.GetGrain<IApiKeyGrain>(Pub.KeyHash);
        await key.SetLimitsAsync(config.RateLimiting);
        await key.SetScopeAsync(KeyScopes.Of(config));
        Pub.Config = config;
        Pub.UpdatedAt = time.GetUtcNow();
        await state.WriteStateAsync();
        await RecordAsync();
        if (moved)
        {
            await oldRoutes.ReleaseAsync(oldClaim);
        }
        logger.LogInformation("Publication of {Namespace}/{Name} updated", Namespace, Name);
        var view = View(await Usage(), Pub.MaskedKey);
        await Announce(ChangeTypes.PublicationUpdated, view);
        return Result<PublishedModelView>.Ok(view);
    }

    public async Task<Result<PublishedModelView>> GetAsync() =>
        Pub.Exists ? Result<PublishedModelView>.Ok(View(await Usage(), Pub.MaskedKey)) : NotPublished;

    public async Task<Result<UsageSeries>> GetUsageSeriesAsync(UsageWindow window) =>
        Pub.Exists ? Result<UsageSeries>.Ok(await GrainFactory.GetGrain<IApiKeyGrain>(Pub.KeyHash).GetUsageSeriesAsync(window)) : NotPublished;

    public async Task<Result<bool>> UnpublishAsync()
    {
        if (!Pub.Exists)
        {
            return NotPublished;
        }
        // The key first: from here on the gateway, whatever it still has, is refused by key validation.
        await GrainFactory.GetGrain<IApiKeyGrain>(Pub.KeyHash).RevokeAsync();
        try
        {
            await gateway.DeleteAsync(Pub.Objects);
        }
        catch (KubernetesCallException e)
        {
            return e.Error with { Error = "Failed to unpublish model" };
        }
        var last = View(UsageCounters.Zero, Pub.MaskedKey);
        // Given up once the gateway no longer serves it, and before the record goes: a failure here leaves the
        // publication in place, so unpublishing again (or deleting the model) releases it.
        await Routes(Pub.Config!).ReleaseAsync(RouteClaims.For(Namespace, Name, Pub.Config!));
        await state.ClearStateAsync();
        state.State = new PublishedModelState();
        await GrainFactory.GetGrain<ITenantGrain>(Namespace).RemovePublishedAsync(Name);
        logger.LogInformation("Model {Namespace}/{Name} unpublished", Namespace, Name);
        await Announce(ChangeTypes.ModelUnpublished, last with { Status = "unpublished" });
        return Result<bool>.Ok(true);
    }

    public async Task<Result<RotatedKey>> RotateKeyAsync(NewApiKey key, TimeSpan gracePeriod)
    {
        if (!Pub.Exists)
        {
            return NotPublished;
        }
        if (gracePeriod < TimeSpan.Zero || gracePeriod > PublishRules.MaxGracePeriod)
        {
            return new ApiError(ErrorKind.Invalid, "Invalid request format", $"Field 'gracePeriodSeconds' must be between 0 and {(int)PublishRules.MaxGracePeriod.TotalSeconds}");
        }
        var now = time.GetUtcNow();
        DateTimeOffset? graceUntil = gracePeriod > TimeSpan.Zero ? now + gracePeriod : null;
        var grant = new KeyGrant(Namespace, Name, Pub.Config!.RateLimiting, Pub.ExpiresAt, UsageCounters.Zero, Scope: KeyScopes.Of(Pub.Config));
        await GrainFactory.GetGrain<IApiKeyGrain>(Pub.KeyHash).RotateToAsync(key.Hash, grant, graceUntil);
        Pub.KeyHash = key.Hash;
        Pub.MaskedKey = key.Masked;
        Pub.UpdatedAt = now;
        await state.WriteStateAsync();
        await RecordAsync();
        logger.LogInformation("API key of {Namespace}/{Name} rotated to {MaskedKey}; old key valid until {GraceUntil}", Namespace, Name, key.Masked, graceUntil);
        await Announce(ChangeTypes.KeyRotated, View(await Usage(), key.Masked));
        return Result<RotatedKey>.Ok(new RotatedKey(now, graceUntil));
    }

    /// <summary>Events carry the masked key only: the full key exists in the publish and rotate answers alone.</summary>
    private Task Announce(string type, PublishedModelView view) =>
        GrainFactory.PublishChangeAsync(type, Namespace, "publication", Name, view, time.GetUtcNow(), logger);

    /// <summary>Gives the tenant the publication's view and current key hash, so its lists show what a read here shows.</summary>
    private Task RecordAsync() =>
        GrainFactory.GetGrain<ITenantGrain>(Namespace).AddPublishedAsync(View(UsageCounters.Zero, Pub.MaskedKey), Pub.KeyHash);

    private IHostRoutesGrain Routes(PublishConfig config) =>
        GrainFactory.GetGrain<IHostRoutesGrain>(RouteClaims.HostKey(config.PublicHostname));

    private Task<UsageCounters> Usage() => GrainFactory.GetGrain<IApiKeyGrain>(Pub.KeyHash).GetUsageAsync();

    private PublishedModelView View(UsageCounters usage, string key)
    {
        var config = Pub.Config!;
        var status = PublishedModelView.StatusAt(Pub.ExpiresAt, time.GetUtcNow());
        return new PublishedModelView(Name, Namespace, config, PublishUrls.ExternalUrl(config), key, status, Pub.CreatedAt,
            Pub.UpdatedAt, usage, Pub.Objects, Pub.ExpiresAt);
    }
}
