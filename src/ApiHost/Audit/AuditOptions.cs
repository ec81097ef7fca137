namespace Inference.ApiHost.Audit;

/// <summary>Section "Audit": how long the trail is kept and how much one caller may write to it.</summary>
public sealed class AuditOptions
{
    public const string Section = "Audit";

    /// <summary>Records older than this are not returned and are deleted by the periodic sweep.</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(90);

    /// <summary>How often each API host sweeps expired records.</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Expired records one sweep deletes at most; the rest wait for the next sweep, so a sweep is a bounded
    /// amount of work however much has expired.</summary>
    public int SweepBatch { get; set; } = 1000;

    /// <summary>Records one caller (token subject) writes per minute on one API host; past it the caller's records
    /// of that minute are aggregated into one row per action and outcome (with a count), and counted in the
    /// <c>inference.audit.aggregated</c> metric. Above the API's own per-user request limit by default, so a caller
    /// within that limit is recorded one row per change.</summary>
    public int MaxRecordsPerCallerPerMinute { get; set; } = 120;

    /// <summary>How often aggregated rows (failed logins, callers past their bound) are written with their counts.</summary>
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Aggregated rows one API host keeps in memory for a minute at most; past it further ones share a
    /// single row per action ("*" as actor and source).</summary>
    public int MaxAggregates { get; set; } = 10_000;

    /// <summary>What is wrong, naming the variable to set; null when usable.</summary>
    public string? Problem() =>
        Retention <= TimeSpan.Zero ? $"{Section}__{nameof(Retention)} must be a positive time span"
        : SweepInterval <= TimeSpan.Zero ? $"{Section}__{nameof(SweepInterval)} must be a positive time span"
        : FlushInterval <= TimeSpan.Zero ? $"{Section}__{nameof(FlushInterval)} must be a positive time span"
        : SweepBatch < 1 ? $"{Section}__{nameof(SweepBatch)} must be at least 1"
        : MaxRecordsPerCallerPerMinute < 1 ? $"{Section}__{nameof(MaxRecordsPerCallerPerMinute)} must be at least 1"
        : MaxAggregates < 1 ? $"{Section}__{nameof(MaxAggregates)} must be at least 1"
        : null;
}
