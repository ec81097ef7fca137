namespace Inference.Grains.Abstractions.Tenants;

/// <summary>A tenant (one namespace); key = the namespace. Holds the indexes that list endpoints read, so a
/// listing never scans the cluster.</summary>
[Alias("inference.ITenantGrain")]
public interface ITenantGrain : IGrainWithStringKey
{
    [Alias("AddModel")]
    Task AddModelAsync(string name);

    [Alias("RemoveModel")]
    Task RemoveModelAsync(string name);

    [Alias("GetModelNames"), ReadOnly]
    Task<IReadOnlyList<string>> GetModelNamesAsync();

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
