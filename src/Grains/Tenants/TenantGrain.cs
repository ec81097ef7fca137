using Inference.Grains.Abstractions;
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
}

/// <summary>The tenant's indexes and quotas. Reservations live in memory only: they last one create, seconds, and
/// every create of the tenant passes through this activation's turns one at a time, so concurrent creates are
/// counted against each other and cannot overshoot.</summary>
public sealed class TenantGrain(
    [PersistentState("tenant", StorageNames.State)] IPersistentState<TenantState> state,
    IOptions<TenantQuotaOptions> quotas) : Grain, ITenantGrain
{
    private readonly TenantQuotaOptions _quotas = quotas.Value;

    /// <summary>Models being created or resized, with the replica ceiling they asked for.</summary>
    private readonly Dictionary<string, int> _pendingModels = new(StringComparer.Ordinal);

    private readonly HashSet<string> _pendingPublications = new(StringComparer.Ordinal);

    private string Tenant => this.GetPrimaryKeyString();

    private TenantState T => state.State;

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

    public async Task AddModelAsync(string name, int replicas)
    {
        _pendingModels.Remove(name);
        var added = T.Models.Add(name);
        if (added || Committed(name) != replicas || !T.ModelReplicas.ContainsKey(name))
        {
            T.ModelReplicas[name] = replicas;
            await state.WriteStateAsync();
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
        if (T.ModelReplicas.Remove(name) || removed)
        {
            await state.WriteStateAsync();
        }
    }

    public Task<IReadOnlyList<string>> GetModelNamesAsync() =>
        Task.FromResult<IReadOnlyList<string>>([.. T.Models]);

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

    public async Task AddPublishedAsync(string name)
    {
        _pendingPublications.Remove(name);
        if (T.Published.Add(name))
        {
            await state.WriteStateAsync();
            await GrainFactory.GetGrain<ITenantDirectoryGrain>(0).AddAsync(Tenant);
        }
    }

    public async Task RemovePublishedAsync(string name)
    {
        _pendingPublications.Remove(name);
        if (T.Published.Remove(name))
        {
            await state.WriteStateAsync();
        }
    }

    public Task<IReadOnlyList<string>> GetPublishedNamesAsync() =>
        Task.FromResult<IReadOnlyList<string>>([.. T.Published]);

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
