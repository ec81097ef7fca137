using Inference.Grains.Abstractions.Models;
using Inference.Grains.Abstractions.Publishing;
using Inference.Grains.Abstractions.Tenants;
using Orleans.Concurrency;

namespace Inference.Grains.Tenants;

/// <summary>Answers admin listings across tenants from inside the silo: the tenant directory once, then every
/// tenant's grain in parallel, a bounded number at a time. Stateless, so listings do not queue behind each other
/// nor behind the directory's writes.</summary>
[StatelessWorker]
public sealed class TenantListingGrain : Grain, ITenantListingGrain
{
    /// <summary>How many tenant grains one listing calls at a time: enough to hide the latency of each call, few
    /// enough that one admin listing does not flood the silo's queues.</summary>
    private const int TenantConcurrency = 8;

    public async Task<IReadOnlyList<ModelView>> ListModelsAsync()
    {
        var each = await FanOut.SelectAsync(await TenantsAsync(), TenantConcurrency, t => GrainFactory.GetGrain<ITenantGrain>(t).ListModelsAsync());
        return [.. each.SelectMany(views => views)];
    }

    public async Task<IReadOnlyList<PublishedModelView>> ListPublishedAsync()
    {
        var each = await FanOut.SelectAsync(await TenantsAsync(), TenantConcurrency, t => GrainFactory.GetGrain<ITenantGrain>(t).ListPublishedAsync());
        return [.. each.SelectMany(views => views)];
    }

    public async Task<IReadOnlyList<TenantCounts>> CountAsync(IReadOnlyList<string> tenants) =>
        await FanOut.SelectAsync(tenants, TenantConcurrency, t => GrainFactory.GetGrain<ITenantGrain>(t).GetCountsAsync());

    private Task<IReadOnlyList<string>> TenantsAsync() => GrainFactory.GetGrain<ITenantDirectoryGrain>(0).ListAsync();
}
