using Inference.Grains.Abstractions;
using Inference.Grains.Abstractions.Models;
using Inference.Grains.Abstractions.Publishing;
using Inference.Grains.Abstractions.Tenants;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Inference.Grains.Tenants;

/// <summary>Answers listings across tenants from inside the silo: the tenant directory once, then the tenants'
/// grains in (tenant, name) order, in parallel, a bounded number at a time. A page calls only the tenants it needs:
/// in waves sized from what the tenants before it held, stopping when the page is full. Stateless, so listings do
/// not queue behind each other nor behind the directory's writes.</summary>
[StatelessWorker]
public sealed class TenantListingGrain(IOptions<TenantQuotaOptions> quotas) : Grain, ITenantListingGrain
{
    /// <summary>How many tenant grains one listing calls at a time: enough that a listing of every tenant is a few
    /// rounds of calls rather than one round per handful of tenants (each round waits for the slowest call and, on
    /// a busy silo, for the scheduler), few enough that one listing does not flood the silo's queues.</summary>
    internal const int TenantConcurrency = 64;

    private readonly int _maxPerTenant = quotas.Value.MaxModels;

    public Task<ListPage<ModelView>> ListModelsAsync(ListPosition? after, int limit) =>
        PageAsync(after, limit, (tenant, from, n) => GrainFactory.GetGrain<ITenantGrain>(tenant).ListModelsAsync(from, n));

    public Task<ListPage<PublishedModelView>> ListPublishedAsync(ListPosition? after, int limit) =>
        PageAsync(after, limit, (tenant, from, n) => GrainFactory.GetGrain<ITenantGrain>(tenant).ListPublishedAsync(from, n));

    public async Task<IReadOnlyList<TenantCounts>> CountAsync(IReadOnlyList<string> tenants) =>
        await FanOut.SelectAsync(tenants, TenantConcurrency, t => GrainFactory.GetGrain<ITenantGrain>(t).GetCountsAsync());

    private async Task<ListPage<T>> PageAsync<T>(ListPosition? after, int limit, Func<string, string?, int, Task<ListPage<T>>> list)
    {
        // Ordinal, as the tenants order their own names and the API compares positions.
        var tenants = (await GrainFactory.GetGrain<ITenantDirectoryGrain>(0).ListAsync()).Order(StringComparer.Ordinal).ToList();
        var next = after is null ? 0 : tenants.FindIndex(t => string.CompareOrdinal(t, after.Tenant) >= 0);
        next = next < 0 ? tenants.Count : next;
        // A page's list is allocated once, at its size; a whole list grows as usual.
        var items = new List<T>(Math.Min(limit, 1024));
        var called = 0;
        var more = false;
        var done = false;
        while (next < tenants.Count && !done)
        {
            var asked = limit - items.Count;
            var wave = Math.Min(limit == int.MaxValue ? int.MaxValue : WaveSize(asked, items.Count, called), tenants.Count - next);
            var pages = await FanOut.SelectAsync(tenants.GetRange(next, wave), TenantConcurrency,
                t => list(t, t == after?.Tenant ? after.Name : null, asked));
            called += wave;
            for (var i = 0; i < pages.Length && !done; i++)
            {
                var room = limit - items.Count;
                items.AddRange(pages[i].Items.Take(room));
                // A tenant with more than fit (or than it answered: a model that vanished while it was read) ends the
                // page there, and the next page resumes inside it; a full page after a tenant's last item has more
                // when any tenant follows.
                if (pages[i].Items.Count > room || pages[i].More)
                {
                    (more, done) = (true, true);
                }
                else if (items.Count == limit)
                {
                    (more, done) = (next + i + 1 < tenants.Count, true);
                }
            }
            next += wave;
        }
        return new ListPage<T>(items, more);
    }

    /// <summary>How many tenants the next wave calls: every one for a whole list; for a page, as many as it still
    /// needs if each holds as many items as those called so far held on average, or before any was called, as many
    /// as it needs if each holds its quota (fewer cannot fill it).</summary>
    private int WaveSize(int wanted, int collected, int called)
    {
        var perTenant = called == 0 ? _maxPerTenant : Math.Max(1.0, (double)collected / called);
        return (int)Math.Clamp(Math.Ceiling(wanted / (double)perTenant), 1, TenantConcurrency);
    }
}
