using System.Diagnostics.Metrics;
using Inference.Grains.Abstractions.Keys;

namespace Inference.ApiHost.Keys;

/// <summary>Key validations by outcome and by what decided them (<c>inference.key_validation.validations</c>, meter
/// <see cref="KeyLeases.MeterName"/>). Every tag is a cached pair, so counting a validation allocates nothing.</summary>
public sealed class ValidationMetrics
{
    /// <summary>What decided a validation.</summary>
    public enum DecidedBy
    {
        /// <summary>A lease this host held: no grain call, no wait.</summary>
        Lease,

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

    public ValidationMetrics(IMeterFactory meters) =>
        _validations = meters.Create(KeyLeases.MeterName).CreateCounter<long>("inference.key_validation.validations", "{validation}",
            "Key validations answered, by outcome (valid, limited, forbidden, unknown, revoked, expired, source_limited, bad_request, missing) and by what decided them (lease, grain, remembered, signature, none)");

    public void Decided(KeyOutcome outcome, DecidedBy by) => _validations.Add(1, Outcomes[(int)outcome], By[(int)by]);

    /// <summary>A failed validation refused because its source failed too often (the key's own outcome is not told).</summary>
    public void SourceLimited(DecidedBy by) => _validations.Add(1, SourceLimitedTag, By[(int)by]);

    public void BadRequest() => _validations.Add(1, BadRequestTag, By[(int)DecidedBy.None]);

    public void Missing() => _validations.Add(1, MissingTag, By[(int)DecidedBy.None]);
}
