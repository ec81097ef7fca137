namespace Inference.Grains.Abstractions.Tenants;

/// <summary>A tenant (one namespace); key = the namespace. Holds the indexes that list endpoints read, so a
/// listing never scans the cluster, and enforces the tenant's quotas: a create first reserves its share here,
/// then confirms it (the Add methods) or releases it when the create fails.</summary>
[Alias("inference.ITenantGrain")]
public interface ITenantGrain : IGrainWithStringKey
{
    /// <summary>Reserves room for a model (new, or an existing one changing its replica ceiling to
    /// <paramref name="replicas"/>); Forbidden past the tenant's model or replica quota.</summary>
    [Alias("ReserveModel")]
    Task<Result<bool>> ReserveModelAsync(string name, int replicas);

    /// <summary>Gives up a reservation whose create or update failed.</summary>
    [Alias("ReleaseModel")]
    Task ReleaseModelAsync(string name);

    /// <summary>Records a model and its replica ceiling (confirming any reservation). Models found in the cluster
    /// are recorded too, quota or not: they exist already.</summary>
    [Alias("AddModel")]
    Task AddModelAsync(string name, int replicas);

    [Alias("RemoveModel")]
    Task RemoveModelAsync(string name);

    [Alias("GetModelNames"), ReadOnly]
    Task<IReadOnlyList<string>> GetModelNamesAsync();

    /// <summary>Reserves room for a publication; Forbidden past the tenant's publication quota.</summary>
    [Alias("ReservePublication")]
    Task<Result<bool>> ReservePublicationAsync(string name);

    [Alias("ReleasePublication")]
    Task ReleasePublicationAsync(string name);

    [Alias("AddPublished")]
    Task AddPublishedAsync(string name);

    [Alias("RemovePublished")]
    Task RemovePublishedAsync(string name);

    [Alias("GetPublishedNames"), ReadOnly]
    Task<IReadOnlyList<string>> GetPublishedNamesAsync();
}

/// <summary>The set of tenants that hold anything, so an admin listing across tenants needs no cluster scan;
/// a single grain with key 0.</summary>
[Alias("inference.ITenantDirectoryGrain")]
public interface ITenantDirectoryGrain : IGrainWithIntegerKey
{
    [Alias("Add")]
    Task AddAsync(string tenant);

    [Alias("List"), ReadOnly]
    Task<IReadOnlyList<string>> ListAsync();
}
