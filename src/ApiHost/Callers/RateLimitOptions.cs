using Inference.Grains.Abstractions.Callers;

namespace Inference.ApiHost.Callers;

/// <summary>Section "RateLimit", plus the contract's RATE_LIMIT_REQUESTS: the management API's own per-user limit.</summary>
public sealed class RateLimitOptions
{
    public const string Section = "RateLimit";

    /// <summary>Requests per user per <see cref="Window"/>.</summary>
    public int RequestsPerMinute { get; set; } = 100;

    public TimeSpan Window { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Requests per user per <see cref="BurstWindow"/>.</summary>
    public int Burst { get; set; } = 10;

    public TimeSpan BurstWindow { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Paths not counted: the gateway's key validation has its own per-key limits, and login is
    /// limited per source address by failures.</summary>
    public string[] ExcludedPaths { get; set; } = ["/api/validate-api-key", "/api/admin/login"];

    public RatePolicy Policy => new(RequestsPerMinute, Window, Burst, BurstWindow);

    public static void Bind(RateLimitOptions o, IConfiguration configuration)
    {
        configuration.GetSection(Section).Bind(o);
        if (int.TryParse(configuration["RATE_LIMIT_REQUESTS"], out var perMinute))
        {
            o.RequestsPerMinute = perMinute;
        }
        if (o.RequestsPerMinute < 1 || o.Burst < 1 || o.Window <= TimeSpan.Zero || o.BurstWindow <= TimeSpan.Zero)
        {
            throw new InvalidOperationException("RATE_LIMIT_REQUESTS, RateLimit:Burst and the windows must be positive.");
        }
    }
}
