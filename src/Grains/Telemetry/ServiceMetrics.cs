using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Inference.Grains.Abstractions.Models;

namespace Inference.Grains.Telemetry;

/// <summary>The service's own figures that grains produce: lease grants, models by status and publications per
/// tenant, publication changes. Not grain state: one holder per silo process, written by the grains it hosts and read
/// by whichever thread collects metrics. A tenant's figures are reported by the silo hosting its Tenant grain and
/// disappear when that grain deactivates (the next activation reports them again), so summing over silos never counts
/// a tenant twice.</summary>
public sealed class ServiceMetrics
{
    public const string MeterName = "Inference.Grains";

    private static readonly KeyValuePair<string, object?> Granted = new("result", "granted");
    private static readonly KeyValuePair<string, object?> Refused = new("result", "refused");
    private static readonly KeyValuePair<string, object?> NotLeasable = new("result", "not_leasable");
    private static readonly KeyValuePair<string, object?> Published = new("action", "publish");
    private static readonly KeyValuePair<string, object?> Updated = new("action", "update");
    private static readonly KeyValuePair<string, object?> Unpublished = new("action", "unpublish");

    private readonly Counter<long> _grants;
    private readonly Counter<long> _admissions;
    private readonly Counter<long> _publicationChanges;
    private readonly ConcurrentDictionary<string, TenantFigures> _tenants = new(StringComparer.Ordinal);

    private sealed record TenantFigures(KeyValuePair<string, int>[] ModelsByStatus, int Publications);

    public ServiceMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(MeterName);
        _grants = meter.CreateCounter<long>("inference.key_leases.grants", "{lease}",
            "Lease requests answered by API keys' grains, by result (granted, refused: the key is dead or at a limit, not_leasable)");
        _admissions = meter.CreateCounter<long>("inference.key_leases.admissions", "{admission}",
            "Admissions granted in leases (counted against the keys' limits when granted)");
        _publicationChanges = meter.CreateCounter<long>("inference.publications.changes", "{change}",
            "Publications made, changed and withdrawn, by action");
        meter.CreateObservableGauge("inference.models", ModelMeasurements, "{model}", "Models by tenant and status");
        meter.CreateObservableGauge("inference.publications", PublicationMeasurements, "{publication}", "Published models by tenant");
    }

    public void LeaseAnswered(bool leasable, int granted, bool refused)
    {
        _grants.Add(1, !leasable ? NotLeasable : refused || granted == 0 ? Refused : Granted);
        if (granted > 0)
        {
            _admissions.Add(granted);
        }
    }

    public void PublicationChanged(bool added, bool removed) =>
        _publicationChanges.Add(1, added ? Published : removed ? Unpublished : Updated);

    /// <summary>The tenant's current figures, from its Tenant grain's state after every change.</summary>
    public void Tenant(string tenant, IEnumerable<string> models, IReadOnlyDictionary<string, ModelView> views, int publications)
    {
        var byStatus = models.GroupBy(m => views.TryGetValue(m, out var v) ? v.Status : "Unknown", StringComparer.Ordinal)
            .Select(g => KeyValuePair.Create(g.Key, g.Count())).ToArray();
        _tenants[tenant] = new TenantFigures(byStatus, publications);
    }

    public void TenantGone(string tenant) => _tenants.TryRemove(tenant, out _);

    private IEnumerable<Measurement<int>> ModelMeasurements()
    {
        foreach (var (tenant, figures) in _tenants)
        {
            foreach (var (status, count) in figures.ModelsByStatus)
            {
                yield return new Measurement<int>(count, new KeyValuePair<string, object?>("tenant", tenant), new KeyValuePair<string, object?>("status", status));
            }
        }
    }

    private IEnumerable<Measurement<int>> PublicationMeasurements()
    {
        foreach (var (tenant, figures) in _tenants)
        {
            yield return new Measurement<int>(figures.Publications, new KeyValuePair<string, object?>("tenant", tenant));
        }
    }
}
