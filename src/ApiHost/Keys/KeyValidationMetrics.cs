using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Inference.ApiHost.Keys;

/// <summary>
/// Meter <see cref="MeterName"/>: the time each key validation spends in this host, from its endpoint's start to its
/// answer, by HTTP status; and the grain calls the validations needed. Time spent before a request reaches the
/// endpoint (sockets, Kestrel, thread-pool queues) is not in it, so comparing it with what the gateway measures
/// shows where a slow validation waited. Read it with <c>dotnet-counters monitor --counters Inference.KeyValidation</c>
/// or any OpenTelemetry exporter.
/// </summary>
public sealed class KeyValidationMetrics
{
    public const string MeterName = "Inference.KeyValidation";

    private readonly Histogram<double> _duration;

    public KeyValidationMetrics(IMeterFactory meters, KeyValidationBatcher batcher)
    {
        var meter = meters.Create(MeterName);
        _duration = meter.CreateHistogram<double>("inference.key_validation.duration", "ms",
            "Time from the validation endpoint's start to its answer");
        meter.CreateObservableCounter("inference.key_validation.grain_calls", () => batcher.GrainCalls, "{call}",
            "Grain calls made for validations (fewer than validations when concurrent ones for a key were batched)");
    }

    /// <summary>Tags follow OpenTelemetry's HTTP conventions: the status, and the exception type when the endpoint threw.</summary>
    public void Record(long startTimestamp, int status, string? errorType = null)
    {
        var elapsed = Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds;
        if (errorType is null)
        {
            _duration.Record(elapsed, new KeyValuePair<string, object?>("http.response.status_code", status));
        }
        else
        {
            _duration.Record(elapsed, new KeyValuePair<string, object?>("error.type", errorType));
        }
    }
}
