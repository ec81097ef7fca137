using Inference.ApiHost.Http;
using Inference.Grains.Abstractions.Keys;
using Inference.Grains.Abstractions.Publishing;

namespace Inference.ApiHost.Publishing;

public sealed record RateLimitingBody(int? RequestsPerMinute, int? RequestsPerHour, long? TokensPerHour, int? BurstLimit)
{
    public RateLimitsPatch ToPatch() => new(RequestsPerMinute, RequestsPerHour, TokensPerHour, BurstLimit);
}

public sealed record AuthenticationBody(bool? RequireApiKey, IReadOnlyList<string>? AllowedTenants);

public sealed record PublishConfigBody(
    string? TenantId, string? ModelType, string? ExternalPath, string? PublicHostname, RateLimitingBody? RateLimiting,
    AuthenticationBody? Authentication, Dictionary<string, string>? Metadata, DateTimeOffset? ExpiresAt);

/// <summary>Body of POST and PUT <c>/api/models/{name}/publish</c>: <c>{config: {...}}</c>; admins may name the
/// tenant as <c>namespace</c> (or <c>config.tenantId</c>, or the query parameter).</summary>
public sealed record PublishRequest(PublishConfigBody? Config, string? Namespace) : INamespacedRequest, IValidatedRequest
{
    string? INamespacedRequest.RequestedNamespace => Namespace ?? Config?.TenantId;

    /// <summary>A tenant named twice must be the same one.</summary>
    ErrorResult? INamespacedRequest.CheckNamespace(string? requested) =>
        Config?.TenantId is { } tenantId && requested is not null && tenantId != requested
            ? ApiResults.Invalid("Field 'config.tenantId' must match 'namespace'")
            : null;

    public string? Problem() => Config is null ? "Field 'config' is required" : null;

    public PublishSpec ToSpec() => new(
        Config?.ModelType, Config?.ExternalPath, Config?.PublicHostname, Config?.RateLimiting?.ToPatch(),
        Config?.Authentication?.RequireApiKey ?? true, Config?.Authentication?.AllowedTenants ?? [],
        Config?.Metadata ?? [], Config?.ExpiresAt);

    public PublishPatch ToPatch() => new(
        Config?.ExternalPath, Config?.PublicHostname, Config?.RateLimiting?.ToPatch(), Config?.Authentication?.AllowedTenants,
        Config?.Metadata);

    /// <summary>Fields an update cannot change (they shape the gateway objects' kinds or the key itself).</summary>
    public string? UnchangeableField() =>
        Config?.ModelType is not null ? "modelType"
        : Config?.ExpiresAt is not null ? "expiresAt"
        : Config?.Authentication?.RequireApiKey is false ? "authentication.requireApiKey"
        : null;
}

public sealed record RotateKeyRequest(int? GracePeriodSeconds, string? Namespace) : INamespacedRequest
{
    string? INamespacedRequest.RequestedNamespace => Namespace;
}

public sealed record RateLimitingResponse(int RequestsPerMinute, int RequestsPerHour, long TokensPerHour, int BurstLimit);

public sealed record AuthenticationResponse(bool RequireApiKey, IReadOnlyList<string> AllowedTenants);

public sealed record UsageResponse(long TotalRequests, long RequestsToday, long TokensUsed, DateTimeOffset? LastAccessTime)
{
    public static UsageResponse From(UsageCounters u) => new(u.TotalRequests, u.RequestsToday, u.TokensUsed, u.LastAccessTime);
}

/// <summary>The <c>usage.summary</c> event's resource: the <c>usage</c> block of the publication.</summary>
public sealed record UsageSummaryResponse(string ModelName, string Namespace, UsageResponse Usage)
{
    public static UsageSummaryResponse From(UsageSummary s) => new(s.ModelName, s.Namespace, UsageResponse.From(s.Usage));
}

/// <summary>A publication as the contract shows it; <see cref="Documentation"/> is left out of lists.</summary>
public sealed record PublishedModelResponse(
    string ModelName, string Namespace, string TenantId, string ModelType, string ExternalUrl, string PublicHostname,
    string ExternalPath, string ApiKey, RateLimitingResponse RateLimiting, AuthenticationResponse Authentication,
    IReadOnlyDictionary<string, string> Metadata, string Status, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt,
    DateTimeOffset? ExpiresAt, UsageResponse Usage, PublishDocumentation? Documentation,
    IReadOnlyList<GatewayObjectRef> GatewayResources)
{
    public static PublishedModelResponse From(PublishedModelView v, bool withDocumentation = true)
    {
        var c = v.Config;
        var l = c.RateLimiting;
        return new PublishedModelResponse(v.ModelName, v.Namespace, v.Namespace, c.ModelType, v.ExternalUrl, c.PublicHostname,
            c.ExternalPath, v.ApiKey, new RateLimitingResponse(l.RequestsPerMinute, l.RequestsPerHour, l.TokensPerHour, l.BurstLimit),
            new AuthenticationResponse(c.RequireApiKey, c.AllowedTenants), c.Metadata, v.Status, v.CreatedAt, v.UpdatedAt,
            v.ExpiresAt, UsageResponse.From(v.Usage),
            withDocumentation ? PublishDocs.Build(v.ModelName, c, v.ApiKey) : null, v.GatewayObjects);
    }
}

public sealed record PublishChangeResponse(string Message, PublishedModelResponse PublishedModel);

/// <summary>Paged as <see cref="Models.ModelListResponse"/>.</summary>
public sealed record PublishedModelListResponse(IReadOnlyList<PublishedModelResponse> PublishedModels, int Total, string? Continue = null);

public sealed record RotateKeyResponse(string Message, string NewApiKey, DateTimeOffset UpdatedAt, DateTimeOffset? OldKeyValidUntil);

public sealed record UsageBucketResponse(DateTimeOffset Start, long Requests, long Tokens, long Limited);

/// <summary><c>GET /api/models/{name}/publish/usage</c>: every bucket of the window, oldest first, the current last.</summary>
public sealed record UsageSeriesResponse(string ModelName, string Namespace, string Window, int BucketSeconds, IReadOnlyList<UsageBucketResponse> Buckets)
{
    public static UsageSeriesResponse From(string model, string tenant, string window, UsageSeries series) => new(model, tenant, window, series.BucketSeconds,
        series.Buckets.Select(b => new UsageBucketResponse(DateTimeOffset.FromUnixTimeSeconds(b.Start), b.Requests, b.Tokens, b.Limited)).ToList());
}
