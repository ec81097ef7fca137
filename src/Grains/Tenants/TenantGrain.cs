using Inference.Grains.Abstractions;
using Inference.Grains.Abstractions.Keys;
using Inference.Grains.Abstractions.Models;
using Inference.Grains.Abstractions.Publishing;
using Inference.Grains.Abstractions.Tenants;
using Microsoft.Extensions.Options;

namespace Inference.Grains.Tenants;

[GenerateSerializer, Alias("inference.TenantState")]
public sealed class TenantState
{
    [Id(0)] public SortedSet<string> Models { get; set; } = new(StringComparer.Ordinal);

    [Id(1)] public SortedSet<string> Published { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Each model's replica ceiling as counted against the quota; a model recorded before this was kept
    /// counts as one replica until its next change.</summary>
    [Id(2)] public Dictionary<string, int> ModelReplicas { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Each model's view as its grain last reported it; what <c>ListModelsAsync</c> answers.</summary>
    [Id(3)] public Dictionary<string, ModelView> ModelViews { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Each publication's view (without documentation) and key hash, as its grain last reported them.</summary>
    [Id(4)] public Dictionary<string, PublicationEntry> Publications { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Whether every model here is in the name index; false for a tenant recorded before the index was
    /// kept, whose activation then adds them.</summary>
    [Id(5)] public bool NamesIndexed { get; set; }
}

[GenerateSerializer, Immutable, Alias("inference.PublicationEntry")]
public sealed record PublicationEntry([property: Id(0)] PublishedModelView View, [property: Id(1)] string KeyHash);

/// <summary>The tenant's indexes and quotas. Reservations live in memory only: they last one create, seconds, and
/// every create of the tenant passes through this activation's turns one at a time, so concurrent creates are
/// counted against each other and cannot overshoot.</summary>
public sealed class TenantGrain(
    [PersistentState("tenant", StorageNames.State)] IPersistentState<TenantState> state,
    IOptions<TenantQuotaOptions> quotas,
    Telemetry.ServiceMetrics metrics,
    TimeProvider time) : Grain, ITenantGrain
{
    /// <summary>How many grains one listing reads at a time (key grains for usage; model and publication grains for
    /// entries recorded before views were kept here).</summary>
    private const int ListConcurrency = 16;

    private readonly TenantQuotaOptions _quotas = quotas.Value;

    /// <summary>Models being created or resized, with the replica ceiling they asked for.</summary>
    private readonly Dictionary<string, int> _pendingModels = new(StringComparer.Ordinal);

    private readonly HashSet<string> _pendingPublications = new(StringComparer.Ordinal);

    private string Tenant => this.GetPrimaryKeyString();

    private TenantState T => state.State;

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        metrics.TenantGone(Tenant);
        return Task.CompletedTask;
    }

    /// <summary>This tenant's figures for the metrics collector, after activation and every change.</summary>
    private void Report() => metrics.Tenant(Tenant, T.Models, T.ModelViews, T.Published.Count);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        Report();
        if (!T.NamesIndexed)
        {
            await FanOut.SelectAsync([.. T.Models], ListConcurrency, async n =>
            {
                await NameIndex(n).AddAsync(Tenant);
                return true;
            });
            T.NamesIndexed = true;
            if (T.Models.Count > 0)
            {
                await state.WriteStateAsync(cancellationToken);
            }
        }
    }

    public Task<Result<bool>> ReserveModelAsync(string name, int replicas)
    {
        if (!T.Models.Contains(name))
        {
            var count = T.Models.Count + _pendingModels.Keys.Count(n => n != name && !T.Models.Contains(n));
            if (count >= _quotas.MaxModels)
            {
                return Task.FromResult<Result<bool>>(Exceeded(
                    $"Tenant '{Tenant}' may have at most {_quotas.MaxModels} models; delete one before creating another"));
            }
        }
        var current = T.Models.Contains(name) ? Committed(name) : 0;
        if (replicas > current)
        {
            // A model being resized holds the larger of its old and new ceilings until the change is confirmed.
            var others = T.Models.Concat(_pendingModels.Keys).Distinct().Where(n => n != name).Sum(Held);
            if (others + replicas > _quotas.MaxReplicas)
            {
                return Task.FromResult<Result<bool>>(Exceeded(
                    $"Tenant '{Tenant}' may have at most {_quotas.MaxReplicas} replicas in total (the sum of its models' maxReplicas); "
                    + $"{others} are taken by other models and this model asks for {replicas}"));
            }
        }
        _pendingModels[name] = replicas;
        return Task.FromResult(Result<bool>.Ok(true));
    }

    public Task ReleaseModelAsync(string name)
    {
        _pendingModels.Remove(name);
        return Task.CompletedTask;
    }

    public async Task AddModelAsync(ModelView view, int replicas)
    {
        var name = view.Name;
        _pendingModels.Remove(name);
        if (!T.Models.Contains(name))
        {
            // Indexed before it is recorded: a failure in between leaves the index naming a tenant without the
            // model (a read then answers 404), never a model the index cannot find.
            await NameIndex(name).AddAsync(Tenant);
        }
        var added = T.Models.Add(name);
        if (added || Committed(name) != replicas || !T.ModelReplicas.ContainsKey(name) || T.ModelViews.GetValueOrDefault(name) != view)
        {
            T.ModelReplicas[name] = replicas;
            T.ModelViews[name] = view;
            await state.WriteStateAsync();
            Report();
        }
        if (added)
        {
            await GrainFactory.GetGrain<ITenantDirectoryGrain>(0).AddAsync(Tenant);
        }
    }

    public async Task RemoveModelAsync(string name)
    {
        _pendingModels.Remove(name);
        var removed = T.Models.Remove(name);
        if (T.ModelReplicas.Remove(name) | T.ModelViews.Remove(name) || removed)
        {
            await state.WriteStateAsync();
            Report();
        }
        // Also when nothing was recorded: a removal whose index update failed before is completed by the next.
        await NameIndex(name).RemoveAsync(Tenant);
    }

    public Task<IReadOnlyList<string>> GetModelNamesAsync() =>
        Task.FromResult<IReadOnlyList<string>>([.. T.Models]);

    public async Task<ListPage<ModelView>> ListModelsAsync(string? after, int limit)
    {
        // Taken before the first await: turns interleaving with this one may change the state meanwhile.
        var (names, more) = Page(T.Models, after, limit);
        var views = new List<ModelView>(names.Count);
        foreach (var name in names)
        {
            if (!T.ModelViews.TryGetValue(name, out var view))
            {
                // A model recorded before views were kept here: its grain is asked, and the page's others with it.
                return new ListPage<ModelView>(await ReadModelsAsync(names), more);
            }
            views.Add(view);
        }
        // Every view is here (the usual case): answered in this turn, without the parallel reads' machinery, which
        // an admin listing would otherwise set up once per tenant.
        return new ListPage<ModelView>(views, more);
    }

    private async Task<List<ModelView>> ReadModelsAsync(List<string> names)
    {
        var entries = names.Select(n => (Name: n, View: T.ModelViews.GetValueOrDefault(n))).ToList();
        var views = await FanOut.SelectAsync(entries, ListConcurrency, async e => e.View
            ?? (await GrainFactory.GetGrain<IModelGrain>(GrainKeys.Scoped(Tenant, e.Name)).GetAsync()).Value);
        return [.. views.OfType<ModelView>()];
    }

    /// <summary>The names after <paramref name="after"/> in ordinal order, at most <paramref name="limit"/>, and
    /// whether any follow them. Ordinal explicitly, not the set's comparer: a page resumes from a position compared
    /// by the listing grain and the API host too, and must mean the same order there.</summary>
    private static (List<string> Names, bool More) Page(SortedSet<string> names, string? after, int limit)
    {
        var page = names.Where(n => after is null || string.CompareOrdinal(n, after) > 0).Order(StringComparer.Ordinal)
            .Take(limit == int.MaxValue ? limit : limit + 1).ToList();
        var more = page.Count > limit;
        if (more)
        {
            page.RemoveAt(page.Count - 1);
        }
        return (page, more);
    }

    public Task<Result<bool>> ReservePublicationAsync(string name)
    {
        if (!T.Published.Contains(name))
        {
            var count = T.Published.Count + _pendingPublications.Count(n => n != name && !T.Published.Contains(n));
            if (count >= _quotas.MaxPublications)
            {
                return Task.FromResult<Result<bool>>(Exceeded(
                    $"Tenant '{Tenant}' may have at most {_quotas.MaxPublications} published models; "
                    + "unpublish one before publishing another"));
            }
        }
        _pendingPublications.Add(name);
        return Task.FromResult(Result<bool>.Ok(true));
    }

    public Task ReleasePublicationAsync(string name)
    {
        _pendingPublications.Remove(name);
        return Task.CompletedTask;
    }

    public async Task AddPublishedAsync(PublishedModelView view, string keyHash)
    {
        var name = view.ModelName;
        _pendingPublications.Remove(name);
        var added = T.Published.Add(name);
        var entry = new PublicationEntry(view with { Usage = UsageCounters.Zero }, keyHash);
        if (added || T.Publications.GetValueOrDefault(name) != entry)
        {
            T.Publications[name] = entry;
            await state.WriteStateAsync();
            metrics.PublicationChanged(added, removed: false);
            Report();
        }
        if (added)
        {
            await GrainFactory.GetGrain<ITenantDirectoryGrain>(0).AddAsync(Tenant);
        }
    }

    public async Task RemovePublishedAsync(string name)
    {
        _pendingPublications.Remove(name);
        if (T.Published.Remove(name) | T.Publications.Remove(name))
        {
            await state.WriteStateAsync();
            metrics.PublicationChanged(added: false, removed: true);
            Report();
        }
    }

    public Task<IReadOnlyList<string>> GetPublishedNamesAsync() =>
        Task.FromResult<IReadOnlyList<string>>([.. T.Published]);

    public async Task<ListPage<PublishedModelView>> ListPublishedAsync(string? after, int limit)
    {
        var (names, more) = Page(T.Published, after, limit);
        var entries = names.Select(n => (Name: n, Entry: T.Publications.GetValueOrDefault(n))).ToList();
        var now = time.GetUtcNow();
        var views = await FanOut.SelectAsync(entries, ListConcurrency, async e =>
        {
            if (e.Entry is not { } entry)
            {
                var read = await GrainFactory.GetGrain<IPublishedModelGrain>(GrainKeys.Scoped(Tenant, e.Name)).GetAsync();
                return read.Value;
            }
            // Usage changes with every admission and its owner is the key grain: read, not copied here.
            var usage = await GrainFactory.GetGrain<IApiKeyGrain>(entry.KeyHash).GetUsageAsync();
            return entry.View with { Usage = usage, Status = PublishedModelView.StatusAt(entry.View.ExpiresAt, now) };
        });
        return new ListPage<PublishedModelView>([.. views.OfType<PublishedModelView>()], more);
    }

    public Task<TenantCounts> GetCountsAsync() => Task.FromResult(new TenantCounts(T.Models.Count, T.Published.Count));

    private IModelNameIndexGrain NameIndex(string name) => GrainFactory.GetGrain<IModelNameIndexGrain>(name);

    private int Committed(string name) => T.ModelReplicas.GetValueOrDefault(name, 1);

    private int Held(string name)
    {
        var committed = T.Models.Contains(name) ? Committed(name) : 0;
        return _pendingModels.TryGetValue(name, out var pending) ? Math.Max(committed, pending) : committed;
    }

    private static ApiError Exceeded(string details) => new(ErrorKind.Forbidden, "Tenant quota exceeded", details);
}

[GenerateSerializer, Alias("inference.TenantDirectoryState")]
public sealed class TenantDirectoryState
{
    [Id(0)] public SortedSet<string> Tenants { get; set; } = new(StringComparer.Ordinal);
}

public sealed class TenantDirectoryGrain(
    [PersistentState("tenants", StorageNames.State)] IPersistentState<TenantDirectoryState> state)
    : Grain, ITenantDirectoryGrain
{
    public async Task AddAsync(string tenant)
    {
        if (state.State.Tenants.Add(tenant))
        {
            await state.WriteStateAsync();
        }
    }

    public Task<IReadOnlyList<string>> ListAsync() =>
        Task.FromResult<IReadOnlyList<string>>([.. state.State.Tenants]);
}

[GenerateSerializer, Alias("inference.ModelNameIndexState")]
public sealed class ModelNameIndexState
{
    [Id(0)] public SortedSet<string> Tenants { get; set; } = new(StringComparer.Ordinal);
}

public sealed class ModelNameIndexGrain(
    [PersistentState("model-name", StorageNames.State)] IPersistentState<ModelNameIndexState> state)
    : Grain, IModelNameIndexGrain
{
    public async Task AddAsync(string tenant)
    {
        if (state.State.Tenants.Add(tenant))
        {
            await state.WriteStateAsync();
        }
    }

    public async Task RemoveAsync(string tenant)
    {
        if (state.State.Tenants.Remove(tenant))
        {
            await state.WriteStateAsync();
        }
    }

    public Task<IReadOnlyList<string>> GetTenantsAsync() =>
        Task.FromResult<IReadOnlyList<string>>([.. state.State.Tenants]);
}
