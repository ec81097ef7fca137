using Inference.Grains.Abstractions.Tenants;

namespace Inference.Grains.Tenants;

[GenerateSerializer, Alias("inference.TenantState")]
public sealed class TenantState
{
    [Id(0)] public SortedSet<string> Models { get; set; } = new(StringComparer.Ordinal);

    [Id(1)] public SortedSet<string> Published { get; set; } = new(StringComparer.Ordinal);
}

public sealed class TenantGrain(
    [PersistentState("tenant", StorageNames.State)] IPersistentState<TenantState> state) : Grain, ITenantGrain
{
    public async Task AddModelAsync(string name)
    {
        if (state.State.Models.Add(name))
        {
            await state.WriteStateAsync();
            await GrainFactory.GetGrain<ITenantDirectoryGrain>(0).AddAsync(this.GetPrimaryKeyString());
        }
    }

    public async Task RemoveModelAsync(string name)
    {
        if (state.State.Models.Remove(name))
        {
            await state.WriteStateAsync();
        }
    }

    public Task<IReadOnlyList<string>> GetModelNamesAsync() =>
        Task.FromResult<IReadOnlyList<string>>([.. state.State.Models]);

    public async Task AddPublishedAsync(string name)
    {
        if (state.State.Published.Add(name))
        {
            await state.WriteStateAsync();
            await GrainFactory.GetGrain<ITenantDirectoryGrain>(0).AddAsync(this.GetPrimaryKeyString());
        }
    }

    public async Task RemovePublishedAsync(string name)
    {
        if (state.State.Published.Remove(name))
        {
            await state.WriteStateAsync();
        }
    }

    public Task<IReadOnlyList<string>> GetPublishedNamesAsync() =>
        Task.FromResult<IReadOnlyList<string>>([.. state.State.Published]);
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
