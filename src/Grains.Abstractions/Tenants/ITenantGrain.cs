using Inference.Grains.Abstractions.Models;
using Inference.Grains.Abstractions.Publishing;

namespace Inference.Grains.Abstractions.Tenants;

/// <summary>A tenant (one namespace); key = the namespace. Holds the views that list endpoints read, kept current
/// by the Model and PublishedModel grains after each change they make durable, so a listing is one call here and
/// never a call per model; and enforces the tenant's quotas: a create first reserves its share here, then confirms
/// it (the Add methods) or releases it when the create fails.</summary>
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

    /// <summary>Records a model, its replica ceiling (confirming any reservation) and its view as lists show it;
    /// called again after every change of the model. Models found in the cluster are recorded too, quota or not:
    /// they exist already.</summary>
    [Alias("AddModelView")]
    Task AddModelAsync(ModelView view, int replicas);

    [Alias("RemoveModel")]
    Task RemoveModelAsync(string name);

    [Alias("GetModelNames"), ReadOnly]
    Task<IReadOnlyList<string>> GetModelNamesAsync();

    /// <summary>The tenant's models in name order, as their grains last reported them: at most
    /// <paramref name="limit"/> of them, those named after <paramref name="after"/> when given. Interleaves with
    /// every other call (it only reads a snapshot taken at its start), so a grain that is waiting on this tenant
    /// while it is asked for its view cannot deadlock with a listing.</summary>
    [Alias("ListModelsPage"), AlwaysInterleave]
    Task<ListPage<ModelView>> ListModelsAsync(string? after, int limit);

    /// <summary>Reserves room for a publication; Forbidden past the tenant's publication quota.</summary>
    [Alias("ReservePublication")]
    Task<Result<bool>> ReservePublicationAsync(string name);

    [Alias("ReleasePublication")]
    Task ReleasePublicationAsync(string name);

    /// <summary>Records a publication (confirming its reservation) with its view, documentation left out, and the
    /// hash of its current key, whose grain owns the usage counters; called again after every change.</summary>
    [Alias("AddPublishedView")]
    Task AddPublishedAsync(PublishedModelView view, string keyHash);

    [Alias("RemovePublished")]
    Task RemovePublishedAsync(string name);

    [Alias("GetPublishedNames"), ReadOnly]
    Task<IReadOnlyList<string>> GetPublishedNamesAsync();

    /// <summary>The tenant's publications in name order, without documentation, with their status as of now and
    /// their keys' current usage (read from the key grains in parallel, for the page's publications only); paged
    /// and interleaving as <see cref="ListModelsAsync"/>.</summary>
    [Alias("ListPublishedPage"), AlwaysInterleave]
    Task<ListPage<PublishedModelView>> ListPublishedAsync(string? after, int limit);

    [Alias("GetCounts"), AlwaysInterleave]
    Task<TenantCounts> GetCountsAsync();
}

[GenerateSerializer, Immutable, Alias("inference.TenantCounts")]
public sealed record TenantCounts([property: Id(0)] int Models, [property: Id(1)] int Publications);

/// <summary>Listings across every tenant, fanned out inside the silo; a stateless worker, key 0.</summary>
[Alias("inference.ITenantListingGrain")]
public interface ITenantListingGrain : IGrainWithIntegerKey
{
    /// <summary>Every tenant's models in (tenant, name) order, at most <paramref name="limit"/>, starting after
    /// <paramref name="after"/> when given. Calls only the tenants the page needs.</summary>
    [Alias("ListModelsPage")]
    Task<ListPage<ModelView>> ListModelsAsync(ListPosition? after, int limit);

    /// <summary>Every tenant's publications, paged and ordered as <see cref="ListModelsAsync"/>.</summary>
    [Alias("ListPublishedPage")]
    Task<ListPage<PublishedModelView>> ListPublishedAsync(ListPosition? after, int limit);

    /// <summary>The counts of each named tenant, in the order given.</summary>
    [Alias("Count")]
    Task<IReadOnlyList<TenantCounts>> CountAsync(IReadOnlyList<string> tenants);
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

/// <summary>Which tenants hold a model of one name; key = the model name. Kept by the Tenant grains as models come
/// and go, so an admin naming a model without a namespace is answered with one read instead of a scan of every
/// tenant.</summary>
[Alias("inference.IModelNameIndexGrain")]
public interface IModelNameIndexGrain : IGrainWithStringKey
{
    [Alias("Add")]
    Task AddAsync(string tenant);

    [Alias("Remove")]
    Task RemoveAsync(string tenant);

    /// <summary>The tenants holding a model of this name, in name order.</summary>
    [Alias("GetTenants"), ReadOnly]
    Task<IReadOnlyList<string>> GetTenantsAsync();
}
