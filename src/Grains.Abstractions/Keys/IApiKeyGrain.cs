using Inference.Grains.Abstractions.Publishing;

namespace Inference.Grains.Abstractions.Keys;

/// <summary>One API key; key = lowercase hex SHA-256 of the full key. One activation per key makes its limits
/// exact across the cluster; validation is answered from memory.</summary>
[Alias("inference.IApiKeyGrain")]
public interface IApiKeyGrain : IGrainWithStringKey
{
    /// <summary>Checks the key and, when it is valid and within its limits, counts the request and
    /// <paramref name="tokens"/> against them.
    /// <paramref name="target"/>, when given, is what the request is for (the gateway's route); a key presented
    /// anywhere but on its own publication is refused (<see cref="KeyOutcome.Forbidden"/>) and nothing is counted.</summary>
    [Alias("Validate")]
    Task<KeyCheck> ValidateAsync(long tokens, KeyTarget? target = null);

    /// <summary>Several validations as one call, decided in order exactly as if they had arrived one by one: what an
    /// API host sends for the requests that queued up behind its previous call for this key.</summary>
    [Alias("ValidateRequests")]
    Task<KeyCheck[]> ValidateManyAsync(KeyRequest[] requests);

    /// <summary>A lease for an API host (<see cref="LeaseRequest"/>): the key's record and a grant of admissions the host
    /// may spend on its own until the lease's deadline. The grant is counted as admitted here when it is made, so no
    /// limit is exceeded whatever the hosts do; what the host did not spend of its previous grant comes back with the
    /// request and is refunded. A key that is refused, limited or forwarding gets no grant, only the answer
    /// (<see cref="KeyLease.Refusal"/>, or <see cref="KeyLease.Leasable"/> false: validate each request by a call).</summary>
    [Alias("Lease")]
    Task<KeyLease> LeaseAsync(LeaseRequest request);

    /// <summary>A host gives up its lease (it went idle, or is stopping): the unspent part is refunded, the usage counted.</summary>
    [Alias("Return")]
    Task ReturnAsync(string host, LeaseReport report);

    [Alias("Issue")]
    Task IssueAsync(KeyGrant grant);

    [Alias("SetLimits")]
    Task SetLimitsAsync(RateLimits limits);

    /// <summary>Where the key may be used from now on (a publication's route changed); applies to the next validation.</summary>
    [Alias("SetScope")]
    Task SetScopeAsync(KeyScope scope);

    [Alias("Revoke")]
    Task RevokeAsync();

    /// <summary>Hands limits and counters over to <paramref name="successor"/> (issued before this returns) and
    /// stops answering for itself: revoked at once, or forwarding to the successor until <paramref name="graceUntil"/>.</summary>
    [Alias("RotateTo")]
    Task RotateToAsync(string successor, KeyGrant grant, DateTimeOffset? graceUntil);

    [Alias("GetUsage"), ReadOnly]
    Task<UsageCounters> GetUsageAsync();

    /// <summary>Requests, tokens and 429s per minute over the last hour or per hour over the last day.</summary>
    [Alias("GetUsageSeries"), ReadOnly]
    Task<UsageSeries> GetUsageSeriesAsync(UsageWindow window);
}

/// <summary>What a key grants: its owner, limits, optional expiry; plus counters carried over from a predecessor.</summary>
[GenerateSerializer, Immutable, Alias("inference.KeyGrant")]
public sealed record KeyGrant(
    [property: Id(0)] string Tenant,
    [property: Id(1)] string Model,
    [property: Id(2)] RateLimits Limits,
    [property: Id(3)] DateTimeOffset? ExpiresAt,
    [property: Id(4)] UsageCounters Usage,
    [property: Id(5)] KeyWindows? Windows = null,
    [property: Id(6)] KeyScope? Scope = null,
    [property: Id(7)] UsageHistory? History = null);

/// <summary>The one publication a key opens: its route on the gateway, and the calling tenants it admits.
/// <see cref="PathPrefix"/> is null where the route matches on a header rather than a path (openai routes match the
/// model header); <see cref="AllowedTenants"/> empty admits any caller.</summary>
[GenerateSerializer, Immutable, Alias("inference.KeyScope")]
public sealed record KeyScope(
    [property: Id(0)] string Hostname,
    [property: Id(1)] string? PathPrefix,
    [property: Id(2)] IReadOnlyList<string> AllowedTenants);

/// <summary>What a validation request is for, as the gateway tells it: the publication named by the check's path
/// (<c>/api/validate-api-key/{Namespace}/{Model}/...</c>), and, when forwarded, the original request's host, path and
/// model header, and the calling tenant. Null parts are not checked.</summary>
[GenerateSerializer, Immutable, Alias("inference.KeyTarget")]
public sealed record KeyTarget(
    [property: Id(0)] string? Namespace,
    [property: Id(1)] string? Model,
    [property: Id(2)] string? Host,
    [property: Id(3)] string? Path,
    [property: Id(4)] string? ModelHeader,
    [property: Id(5)] string? CallerTenant);

/// <summary>One validation in a batch: its token cost and what it is for.</summary>
[GenerateSerializer, Immutable, Alias("inference.KeyRequest")]
public readonly record struct KeyRequest(
    [property: Id(0)] long Tokens,
    [property: Id(1)] KeyTarget? Target = null);

public enum KeyOutcome
{
    Valid,
    Unknown,
    Revoked,
    Expired,
    Limited,

    /// <summary>A valid key presented for another publication (or route, or calling tenant) than its own.</summary>
    Forbidden,
}

/// <summary>A validation answer with what the rate-limit headers need. <see cref="Limit"/>/<see cref="Remaining"/>/
/// <see cref="ResetSeconds"/> describe the per-minute window; <see cref="RetryAfterSeconds"/> is set when limited.</summary>
[GenerateSerializer, Immutable, Alias("inference.KeyCheck")]
public sealed record KeyCheck(
    [property: Id(0)] KeyOutcome Outcome,
    [property: Id(1)] string? Tenant,
    [property: Id(2)] string? Model,
    [property: Id(3)] int Limit,
    [property: Id(4)] int Remaining,
    [property: Id(5)] int ResetSeconds,
    [property: Id(6)] int RetryAfterSeconds,
    [property: Id(7)] int HourLimit,
    [property: Id(8)] string? LimitedBy)
{
    public static readonly KeyCheck Unknown = new(KeyOutcome.Unknown, null, null, 0, 0, 0, 0, 0, null);
}

/// <summary>A key's rate-limit windows, handed from a rotated key to its successor so rotation neither resets
/// nor doubles the limits.</summary>
[GenerateSerializer, Immutable, Alias("inference.KeyWindows")]
public sealed record KeyWindows(
    [property: Id(0)] long HourStart,
    [property: Id(1)] int HourCount,
    [property: Id(2)] long HourTokens,
    [property: Id(3)] long[] MinuteLog,
    [property: Id(4)] double BurstTokens,
    [property: Id(5)] long BurstAt);

/// <summary>An API host that holds leases (or answers a key's limit on its own, <see cref="KeyLease.LimitedFor"/>):
/// told to drop what it holds of a key before a revocation or a change of the key's record is acknowledged, and
/// answers with what it had spent of it and the requests it refused.</summary>
[Alias("inference.IKeyLeaseHolder")]
public interface IKeyLeaseHolder : IGrainObserver
{
    [Alias("Drop")]
    Task<LeaseReport[]> DropAsync(string keyHash);
}

/// <summary>What a host did with its previous grant of a key: admissions and tokens spent (usage), and what it leaves
/// unspent (refunded). <see cref="GrantedAt"/> identifies the grant. <see cref="Limited"/> counts the requests the host
/// answered with 429 from a refusal the grain had not counted for them (they joined a renewal already under way, or
/// were refused on the host while the refusal held, <see cref="KeyLease.LimitedFor"/>).</summary>
[GenerateSerializer, Immutable, Alias("inference.LeaseReport")]
public readonly record struct LeaseReport(
    [property: Id(0)] long GrantedAt,
    [property: Id(1)] int Spent,
    [property: Id(2)] int Unspent,
    [property: Id(3)] long TokensSpent,
    [property: Id(4)] long TokensUnspent,
    [property: Id(5)] int Limited = 0)
{
    public bool IsEmpty => !HasGrant && Limited == 0;

    /// <summary>Whether this reports on a grant; a report may carry only refusals.</summary>
    public bool HasGrant => Spent != 0 || Unspent != 0 || TokensSpent != 0 || TokensUnspent != 0;
}

/// <summary>A host asks for a lease: who it is (and the observer that drops its leases), how many admissions and
/// tokens it expects to need for the next lease period, the report on its previous grant of this key, and how many
/// requests are waiting for this answer (a refusal for a limit is their 429, counted in the key's usage history; a
/// renewal asked ahead of need has none).</summary>
[GenerateSerializer, Immutable, Alias("inference.LeaseRequest")]
public sealed record LeaseRequest(
    [property: Id(0)] string Host,
    [property: Id(1)] IKeyLeaseHolder Holder,
    [property: Id(2)] int Wanted,
    [property: Id(3)] long WantedTokens,
    [property: Id(4)] LeaseReport Previous,
    [property: Id(5)] int Waiting = 0);

/// <summary>The key as a host needs it to decide on its own: owner, route, expiry, limits (for the headers).</summary>
[GenerateSerializer, Immutable, Alias("inference.KeyRecord")]
public sealed record KeyRecord(
    [property: Id(0)] string Tenant,
    [property: Id(1)] string Model,
    [property: Id(2)] KeyScope? Scope,
    [property: Id(3)] DateTimeOffset? ExpiresAt,
    [property: Id(4)] int Limit,
    [property: Id(5)] int HourLimit);

/// <summary>A lease: <see cref="Granted"/> admissions and <see cref="TokenBudget"/> tokens (-1: the key has no token
/// limit) to spend until <see cref="Period"/> after the request was sent. <see cref="Remaining"/> and
/// <see cref="ResetSeconds"/> describe the key's windows after the grant (for the headers). Without a grant,
/// <see cref="Refusal"/> is the answer for the request that asked, or <see cref="Leasable"/> is false.
/// <see cref="LimitedFor"/>, with a refusal for a limit: how long from the grain's decision nothing but a change of
/// the key can reopen that limit (no host holds a grant whose refund would), so the host answers the key's requests
/// with this refusal on its own for that long (counting them in <see cref="LeaseReport.Limited"/>); the grain tells it
/// (<see cref="IKeyLeaseHolder.DropAsync"/>) before a change of the key is acknowledged. Zero: ask again.</summary>
[GenerateSerializer, Immutable, Alias("inference.KeyLease")]
public sealed record KeyLease(
    [property: Id(0)] bool Leasable,
    [property: Id(1)] KeyRecord? Record,
    [property: Id(2)] int Granted,
    [property: Id(3)] long TokenBudget,
    [property: Id(4)] long GrantedAt,
    [property: Id(5)] TimeSpan Period,
    [property: Id(6)] int Remaining,
    [property: Id(7)] int ResetSeconds,
    [property: Id(8)] KeyCheck? Refusal,
    [property: Id(9)] TimeSpan LimitedFor = default);

/// <summary>A key's use in one bucket of time (a minute or an hour) starting at <see cref="Start"/> (Unix seconds):
/// admitted requests, tokens they spent, and requests refused with 429.</summary>
[GenerateSerializer, Alias("inference.UsageBucket")]
public record struct UsageBucket(
    [property: Id(0)] long Start,
    [property: Id(1)] long Requests,
    [property: Id(2)] long Tokens,
    [property: Id(3)] long Limited);

/// <summary>The bounded history a key keeps (ring buffers: the last hour by minute, the last day by hour), handed to
/// the successor when the key is rotated.</summary>
[GenerateSerializer, Immutable, Alias("inference.UsageHistory")]
public sealed record UsageHistory(
    [property: Id(0)] UsageBucket[] Minutes,
    [property: Id(1)] UsageBucket[] Hours);

public enum UsageWindow
{
    /// <summary>The last 60 minutes, one bucket per minute.</summary>
    LastHour,

    /// <summary>The last 24 hours, one bucket per hour.</summary>
    LastDay,
}

/// <summary>A window of usage: every bucket of it, oldest first, empty ones included; the last is the current one.</summary>
[GenerateSerializer, Immutable, Alias("inference.UsageSeries")]
public sealed record UsageSeries(
    [property: Id(0)] int BucketSeconds,
    [property: Id(1)] UsageBucket[] Buckets);
