using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Inference.Grains.Kubernetes;

/// <summary>How the cluster watch is doing: objects it cannot hand over (failed attempts so far, objects waiting for
/// their own retry), how often it lists afresh and why, and its lag: how long since the API server last sent it
/// anything on a watch (an event or a bookmark), per watched resource. All observable or counted, so a reader sees
/// the current figures whenever it starts. Also the hand-overs that Model grains ignored as coming from a holder of the
/// watch lease older than one they know of (the fence), counted in whichever silo holds the grain.
/// Not grain state: one holder per process, written by the watch service (a hosted service, outside any grain) and by
/// Model grains' turns on any thread, read by whichever thread collects metrics, hence the interlocked reads and writes
/// (and counters, which are safe across threads).</summary>
public sealed class WatchMetrics
{
    public const string MeterName = "Inference.ClusterWatch";

    private long _failures;
    private long _retrying;
    private readonly Counter<long> _relists;
    private readonly Counter<long> _fenced;
    private readonly ConcurrentDictionary<string, long> _lastHeard = new(StringComparer.Ordinal);

    public WatchMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(MeterName);
        meter.CreateObservableCounter("inference.watch.object_failures", () => Interlocked.Read(ref _failures),
            description: "Attempts to hand a watched object to its grain that failed");
        meter.CreateObservableGauge("inference.watch.objects_retrying", () => Interlocked.Read(ref _retrying),
            description: "Watched objects whose handling failed and that wait for a retry of their own");
        _relists = meter.CreateCounter<long>("inference.watch.relists", "{list}",
            "Full lists the watch made, by resource and reason (start, expired: the server no longer had the version, error)");
        _fenced = meter.CreateCounter<long>("inference.watch.fenced_handovers", "{handover}",
            "Hand-overs a Model grain ignored because they came from an older holder of the watch lease than one it knew of");
        meter.CreateObservableGauge("inference.watch.lag", Lag, "s",
            "Seconds since the API server last sent the running watch an event or a bookmark, by resource");
    }

    public void Failed() => Interlocked.Increment(ref _failures);

    public void RetryingChanged(int delta) => Interlocked.Add(ref _retrying, delta);

    public void Relisted(string resource, string reason) =>
        _relists.Add(1, new KeyValuePair<string, object?>("resource", resource), new KeyValuePair<string, object?>("reason", reason));

    public void Fenced() => _fenced.Add(1);

    public void Heard(string resource) => _lastHeard[resource] = Stopwatch.GetTimestamp();

    /// <summary>The watch of <paramref name="resource"/> stopped on this silo (another took it over, or it stops).</summary>
    public void Stopped(string resource) => _lastHeard.TryRemove(resource, out _);

    private IEnumerable<Measurement<double>> Lag()
    {
        foreach (var (resource, heard) in _lastHeard)
        {
            yield return new Measurement<double>(Stopwatch.GetElapsedTime(heard).TotalSeconds, new KeyValuePair<string, object?>("resource", resource));
        }
    }
}
