using Inference.Grains.Abstractions.Publishing;

namespace Inference.Grains.Abstractions.Keys;

/// <summary>One API key; key = lowercase hex SHA-256 of the full key. One activation per key makes its limits
/// exact across the cluster; validation is answered from memory.</summary>
[Alias("inference.IApiKeyGrain")]
public interface IApiKeyGrain : IGrainWithStringKey
{
    /// <summary>Checks the key and, when it is valid and within its limits, counts the request and
    /// <paramref name="tokens"/> against them.</summary>
    [Alias("Validate")]
    Task<KeyCheck> ValidateAsync(long tokens);

    /// <summary>Several validations as one call, decided in order exactly as if they had arrived one by one: what an
    /// API host sends for the requests that queued up behind its previous call for this key.</summary>
    [Alias("ValidateMany")]
    Task<KeyCheck[]> ValidateManyAsync(long[] tokens);

    [Alias("Issue")]
    Task IssueAsync(KeyGrant grant);

    [Alias("SetLimits")]
    Task SetLimitsAsync(RateLimits limits);

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
    [property: Id(5)] KeyWindows? Windows = null);

public enum KeyOutcome
{
    Valid,
    Unknown,
    Revoked,
    Expired,
    Limited,
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
