using Inference.Grains.Abstractions.Events;

namespace Inference.Grains.Abstractions.Publishing;

public static class ModelTypes
{
    public const string Traditional = "traditional";
    public const string OpenAi = "openai";
}

/// <summary>Per-key limits. <see cref="TokensPerHour"/> 0 means no token-based limit.</summary>
[GenerateSerializer, Immutable, Alias("inference.RateLimits")]
public sealed record RateLimits(
    [property: Id(0)] int RequestsPerMinute,
    [property: Id(1)] int RequestsPerHour,
    [property: Id(2)] long TokensPerHour,
    [property: Id(3)] int BurstLimit);

/// <summary>A partial change of limits: null means "leave as it is".</summary>
[GenerateSerializer, Immutable, Alias("inference.RateLimitsPatch")]
public sealed record RateLimitsPatch(
    [property: Id(0)] int? RequestsPerMinute = null,
    [property: Id(1)] int? RequestsPerHour = null,
    [property: Id(2)] long? TokensPerHour = null,
    [property: Id(3)] int? BurstLimit = null)
{
    public RateLimits ApplyTo(RateLimits l) => new(
        RequestsPerMinute ?? l.RequestsPerMinute, RequestsPerHour ?? l.RequestsPerHour,
        TokensPerHour ?? l.TokensPerHour, BurstLimit ?? l.BurstLimit);
}

/// <summary>What a caller asks for on publish; absent fields take defaults (modelType from the model).</summary>
[GenerateSerializer, Immutable, Alias("inference.PublishSpec")]
public sealed record PublishSpec(
    [property: Id(0)] string? ModelType,
    [property: Id(1)] string? ExternalPath,
    [property: Id(2)] string? PublicHostname,
    [property: Id(3)] RateLimitsPatch? RateLimiting,
    [property: Id(4)] bool RequireApiKey,
    [property: Id(5)] IReadOnlyList<string> AllowedTenants,
    [property: Id(6)] IReadOnlyDictionary<string, string> Metadata,
    [property: Id(7)] DateTimeOffset? ExpiresAt);

/// <summary>A partial update of a publication: null means "leave as it is".</summary>
[GenerateSerializer, Immutable, Alias("inference.PublishPatch")]
public sealed record PublishPatch(
    [property: Id(0)] string? ExternalPath,
    [property: Id(1)] string? PublicHostname,
    [property: Id(2)] RateLimitsPatch? RateLimiting,
    [property: Id(3)] IReadOnlyList<string>? AllowedTenants,
    [property: Id(4)] IReadOnlyDictionary<string, string>? Metadata);

/// <summary>The effective configuration of a publication.</summary>
[GenerateSerializer, Immutable, Alias("inference.PublishConfig")]
public sealed record PublishConfig(
    [property: Id(0)] string ModelType,
    [property: Id(1)] string ExternalPath,
    [property: Id(2)] string PublicHostname,
    [property: Id(3)] RateLimits RateLimiting,
    [property: Id(4)] bool RequireApiKey,
    [property: Id(5)] IReadOnlyList<string> AllowedTenants,
    [property: Id(6)] IReadOnlyDictionary<string, string> Metadata);

/// <summary>A key's usage as the change stream reports it, at most once per write-behind period.</summary>
[GenerateSerializer, Immutable, Alias("inference.UsageSummary")]
public sealed record UsageSummary(
    [property: Id(0)] string ModelName,
    [property: Id(1)] string Namespace,
    [property: Id(2)] UsageCounters Usage) : ChangeResource;

[GenerateSerializer, Immutable, Alias("inference.UsageCounters")]
public sealed record UsageCounters(
    [property: Id(0)] long TotalRequests,
    [property: Id(1)] long RequestsToday,
    [property: Id(2)] long TokensUsed,
    [property: Id(3)] DateTimeOffset? LastAccessTime)
{
    public static readonly UsageCounters Zero = new(0, 0, 0, null);
}

[GenerateSerializer, Immutable, Alias("inference.GatewayObjectRef")]
public sealed record GatewayObjectRef(
    [property: Id(0)] string Kind,
    [property: Id(1)] string Namespace,
    [property: Id(2)] string Name);

/// <summary>A publication as the API shows it. <see cref="ApiKey"/> is the masked key, except in the publish
/// answer where it is the full key exactly once.</summary>
[GenerateSerializer, Immutable, Alias("inference.PublishedModelView")]
public sealed record PublishedModelView(
    [property: Id(0)] string ModelName,
    [property: Id(1)] string Namespace,
    [property: Id(2)] PublishConfig Config,
    [property: Id(3)] string ExternalUrl,
    [property: Id(4)] string ApiKey,
    [property: Id(5)] string Status,
    [property: Id(6)] DateTimeOffset CreatedAt,
    [property: Id(7)] DateTimeOffset UpdatedAt,
    [property: Id(8)] UsageCounters Usage,
    [property: Id(10)] IReadOnlyList<GatewayObjectRef> GatewayObjects,
    [property: Id(11)] DateTimeOffset? ExpiresAt) : ChangeResource
{
    public const string Active = "active";
    public const string Expired = "expired";

    /// <summary>The status a publication shows at <paramref name="now"/>: it expires by the clock, not by a write.</summary>
    public static string StatusAt(DateTimeOffset? expiresAt, DateTimeOffset now) => expiresAt <= now ? Expired : Active;
}

/// <summary>A freshly minted key as the API host hands it to the grain: the full key never crosses into grain
/// state, only its hash and masked form do; the full key travels so the one response can show it.</summary>
[GenerateSerializer, Immutable, Alias("inference.NewApiKey")]
public sealed record NewApiKey(
    [property: Id(0)] string Hash,
    [property: Id(1)] string Masked,
    [property: Id(2)] string FullKey);

[GenerateSerializer, Immutable, Alias("inference.RotatedKey")]
public sealed record RotatedKey(
    [property: Id(0)] DateTimeOffset UpdatedAt,
    [property: Id(1)] DateTimeOffset? OldKeyValidUntil);
