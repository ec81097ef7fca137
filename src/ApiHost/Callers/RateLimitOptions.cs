using Inference.Grains.Abstractions.Callers;

namespace Inference.ApiHost.Callers;

/// <summary>Section "RateLimit" (RATE_LIMIT_REQUESTS is mapped onto it, Http.Settings): the management API's own per-user limit.</summary>
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

    /// <summary>What is wrong, naming the variable to set; null when usable.</summary>
    public string? Problem() =>
        RequestsPerMinute < 1 ? $"{Http.Settings.Variable($"{Section}:{nameof(RequestsPerMinute)}")} must be at least 1"
        : Burst < 1 ? $"{Http.Settings.Variable($"{Section}:{nameof(Burst)}")} must be at least 1"
        : Window <= TimeSpan.Zero ? $"{Http.Settings.Variable($"{Section}:{nameof(Window)}")} must be a positive time span"
        : BurstWindow <= TimeSpan.Zero ? $"{Http.Settings.Variable($"{Section}:{nameof(BurstWindow)}")} must be a positive time span"
        : null;
}
