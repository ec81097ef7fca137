namespace Inference.Grains.Abstractions.Callers;

/// <summary>The management API's own limit for one caller (key = the token's subject). One activation per
/// caller in the cluster, so every API host counts against the same windows.</summary>
[Alias("inference.ICallerLimiterGrain")]
public interface ICallerLimiterGrain : IGrainWithStringKey
{
    /// <summary>Counts one request if the policy allows it.</summary>
    [Alias("Acquire")]
    Task<RateDecision> AcquireAsync(RatePolicy policy);
}

/// <summary>At most <paramref name="Limit"/> requests per <paramref name="Window"/> and at most
/// <paramref name="Burst"/> per <paramref name="BurstWindow"/>. The API hosts send it with each call, so the
/// configuration lives in one place (their settings).</summary>
[GenerateSerializer, Immutable, Alias("inference.RatePolicy")]
public sealed record RatePolicy(
    [property: Id(0)] int Limit,
    [property: Id(1)] TimeSpan Window,
    [property: Id(2)] int Burst,
    [property: Id(3)] TimeSpan BurstWindow);

/// <summary>Whether the request may proceed, and what the rate-limit headers should say.</summary>
/// <param name="Remaining">Requests left in the main window after this one.</param>
/// <param name="Reset">Until a slot in the main window frees up.</param>
/// <param name="RetryAfter">When refused: until the refusing window has room again.</param>
[GenerateSerializer, Immutable, Alias("inference.RateDecision")]
public sealed record RateDecision(
    [property: Id(0)] bool Allowed,
    [property: Id(1)] int Limit,
    [property: Id(2)] int Remaining,
    [property: Id(3)] TimeSpan Reset,
    [property: Id(4)] TimeSpan RetryAfter);
