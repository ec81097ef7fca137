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
    [property: Id(6)] KeyScope? Scope = null);

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
