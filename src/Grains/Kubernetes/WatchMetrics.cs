using System.Diagnostics.Metrics;

namespace Inference.Grains.Kubernetes;

/// <summary>How the cluster watch copes with objects it cannot hand over: failed attempts so far and objects
/// waiting for their own retry. Both are observable, so a reader sees the current figures whenever it starts.
/// Not grain state: one holder per process, written by the watch service (a hosted service, outside any grain) and
/// read by whichever thread collects metrics, hence the interlocked reads and writes.</summary>
public sealed class WatchMetrics
{
    public const string MeterName = "Inference.ClusterWatch";

    private long _failures;
    private long _retrying;

    public WatchMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(MeterName);
        meter.CreateObservableCounter("inference.watch.object_failures", () => Interlocked.Read(ref _failures),
            description: "Attempts to hand a watched object to its grain that failed");
        meter.CreateObservableGauge("inference.watch.objects_retrying", () => Interlocked.Read(ref _retrying),
            description: "Watched objects whose handling failed and that wait for a retry of their own");
    }

    public void Failed() => Interlocked.Increment(ref _failures);

    public void RetryingChanged(int delta) => Interlocked.Add(ref _retrying, delta);
}
