using System.Diagnostics;
using System.Diagnostics.Metrics;
using Inference.Grains.Abstractions.Keys;

namespace Inference.ApiHost.Keys;

/// <summary>Key validations by outcome and by what decided them (<c>inference.key_validation.validations</c>, meter
/// <see cref="KeyLeases.MeterName"/>), and how long deciding took (<c>inference.key_validation.duration</c>, untagged).
/// Every tag is a cached pair, so counting a validation allocates nothing. Validation routes are left out of the
/// framework's per-request metrics (<c>http.server.request.duration</c>, six tags looked up per answer), which cost a
/// validation more than the budget for all metrics (bench/RESULTS.md): these two instruments replace them.</summary>
public sealed class ValidationMetrics
{
    /// <summary>What decided a validation.</summary>
    public enum DecidedBy
    {
        /// <summary>A lease this host held: no grain call, no wait.</summary>
        Lease,

        /// <summary>A refusal for a limit this host holds until the limit can reopen: no grain call, no wait.</summary>
        Memo,

        /// <summary>The key's grain: the request waited for a lease or for the grain's own decision.</summary>
        Grain,

        /// <summary>A dead key (unknown, revoked, expired) this host remembers refusing.</summary>
        Remembered,

        /// <summary>The key's form or signature tag: a forged or malformed key, refused without a grain.</summary>
        Signature,

        /// <summary>Nothing was decided: a malformed request, or no key at all.</summary>
        None,
    }

    private static readonly KeyValuePair<string, object?>[] By =
        [.. Enum.GetNames<DecidedBy>().Select(n => new KeyValuePair<string, object?>("decided_by", n.ToLowerInvariant()))];

    private static readonly KeyValuePair<string, object?>[] Outcomes =
        [.. Enum.GetNames<KeyOutcome>().Select(n => new KeyValuePair<string, object?>("outcome", n.ToLowerInvariant()))];

    private static readonly KeyValuePair<string, object?> SourceLimitedTag = new("outcome", "source_limited");
    private static readonly KeyValuePair<string, object?> BadRequestTag = new("outcome", "bad_request");
    private static readonly KeyValuePair<string, object?> MissingTag = new("outcome", "missing");

    private readonly Counter<long> _validations;
    private readonly Histogram<double> _duration;

    public ValidationMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(KeyLeases.MeterName);
        _validations = meter.CreateCounter<long>("inference.key_validation.validations", "{validation}",
            "Key validations answered, by outcome (valid, limited, forbidden, unknown, revoked, expired, source_limited, bad_request, missing) and by what decided them (lease, memo, grain, remembered, signature, none)");
        _duration = meter.CreateHistogram("inference.key_validation.duration", "s",
            "Time from a validation request's start in the API host to its decision (the answer is written next)",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] });
    }

    /// <summary>When a validation started, for its duration; 0 while nothing listens.</summary>
    public long Start() => _duration.Enabled ? Stopwatch.GetTimestamp() : 0;

    public void Decided(KeyOutcome outcome, DecidedBy by, long started) => Count(Outcomes[(int)outcome], by, started);

    /// <summary>A failed validation refused because its source failed too often (the key's own outcome is not told).</summary>
    public void SourceLimited(DecidedBy by, long started) => Count(SourceLimitedTag, by, started);

    public void BadRequest(long started) => Count(BadRequestTag, DecidedBy.None, started);

    public void Missing(long started) => Count(MissingTag, DecidedBy.None, started);

    private void Count(KeyValuePair<string, object?> outcome, DecidedBy by, long started)
    {
        _validations.Add(1, outcome, By[(int)by]);
        if (started != 0)
        {
            _duration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
    }
}
