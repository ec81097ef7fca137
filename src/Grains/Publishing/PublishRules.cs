using System.Text.RegularExpressions;
using Inference.Grains.Abstractions;
using Inference.Grains.Abstractions.Models;
using Inference.Grains.Abstractions.Publishing;
using Inference.Shared.Models;

namespace Inference.Grains.Publishing;

/// <summary>What a publication may be, checked before anything reaches the gateway.</summary>
public static partial class PublishRules
{
    public const string DefaultHostname = "api.router.inference-in-a-box";

    /// <summary>Bounds the per-minute window's memory: one 8-byte timestamp per admitted request in the last minute (8 MB at most).</summary>
    public const int MaxRequestsPerMinute = 1_000_000;

    public const int MaxExternalPathLength = 200;

    public const int MaxMetadataEntries = 32;

    public static readonly TimeSpan MaxGracePeriod = TimeSpan.FromDays(7);

    public static readonly RateLimits DefaultLimits = new(100, 5000, 100_000, 10);

    [GeneratedRegex("^/[A-Za-z0-9._~/-]*\\z")]
    private static partial Regex UrlPath();

    [GeneratedRegex("^(?=.{1,253}\\z)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*\\z")]
    private static partial Regex DnsName();

    /// <summary>OpenAI-compatible serving (chat completions) is what KServe's Hugging Face runtime offers.</summary>
    public static string DefaultModelType(ModelSpec model) =>
        model.Framework == "huggingface" ? ModelTypes.OpenAi : ModelTypes.Traditional;

    public static Result<PublishConfig> Resolve(string modelName, ModelSpec model, PublishSpec spec)
    {
        var type = spec.ModelType ?? DefaultModelType(model);
        if (type is not (ModelTypes.Traditional or ModelTypes.OpenAi))
        {
            return Invalid("Field 'modelType' must be 'traditional' or 'openai'");
        }
        if (!spec.RequireApiKey)
        {
            return Invalid("Field 'authentication.requireApiKey' cannot be false: published models are always protected by an API key");
        }
        var config = new PublishConfig(type, spec.ExternalPath ?? $"/models/{modelName}", spec.PublicHostname ?? DefaultHostname,
            (spec.RateLimiting ?? new RateLimitsPatch()).ApplyTo(DefaultLimits), true, spec.AllowedTenants, spec.Metadata);
        return Check(config) is { } error ? error : Result<PublishConfig>.Ok(config);
    }

    public static ApiError? Check(PublishConfig c)
    {
        if (c.ExternalPath.Length > MaxExternalPathLength || !UrlPath().IsMatch(c.ExternalPath) || c.ExternalPath.Contains("//", StringComparison.Ordinal)
            || c.ExternalPath.Split('/').Any(s => s is "." or ".."))
        {
            return Invalid($"Field 'externalPath' must start with '/' and contain only letters, digits and '-._~/' (no empty, '.' or '..' segments), at most {MaxExternalPathLength} characters");
        }
        if (!DnsName().IsMatch(c.PublicHostname))
        {
            return Invalid("Field 'publicHostname' must be a valid lowercase DNS name");
        }
        var l = c.RateLimiting;
        if (l.RequestsPerMinute <= 0 || l.RequestsPerMinute > MaxRequestsPerMinute)
        {
            return Invalid($"Field 'rateLimiting.requestsPerMinute' must be between 1 and {MaxRequestsPerMinute}");
        }
        if (l.RequestsPerHour <= 0)
        {
            return Invalid("Field 'rateLimiting.requestsPerHour' must be greater than 0");
        }
        if (l.RequestsPerMinute > l.RequestsPerHour)
        {
            return Invalid("Field 'rateLimiting.requestsPerMinute' must not exceed 'rateLimiting.requestsPerHour'");
        }
        if (l.BurstLimit < 1)
        {
            return Invalid("Field 'rateLimiting.burstLimit' must be at least 1");
        }
        if (l.TokensPerHour < 0)
        {
            return Invalid("Field 'rateLimiting.tokensPerHour' must be 0 (no token limit) or more");
        }
        if (c.AllowedTenants.Count > 100 || c.AllowedTenants.Any(t => !ModelRules.IsNamespace(t)))
        {
            return Invalid("Field 'authentication.allowedTenants' must list at most 100 namespace names");
        }
        if (c.Metadata.Count > MaxMetadataEntries || c.Metadata.Any(kv => kv.Key.Length > 63 || kv.Value.Length > 1024))
        {
            return Invalid($"Field 'metadata' may hold at most {MaxMetadataEntries} entries, keys up to 63 and values up to 1024 characters");
        }
        return null;
    }

    private static ApiError Invalid(string details) => new(ErrorKind.Invalid, "Invalid request format", details);
}
