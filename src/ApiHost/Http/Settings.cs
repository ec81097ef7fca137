using Microsoft.Extensions.Options;

namespace Inference.ApiHost.Http;

/// <summary>The contract's plain variables (JWT_SECRET, ADMIN_*, RATE_LIMIT_REQUESTS, LOG_LEVEL), mapped onto the
/// settings sections here and nowhere else; the sections themselves are bound and checked by
/// <see cref="Inference.Shared.SettingsRegistration.AddSettings"/>.</summary>
public static class Settings
{
    /// <summary>Plain variable, the section key it sets, and how its value is written there.</summary>
    private static readonly (string Variable, string Key, Func<string, string?> Value)[] ContractVariables =
    [
        ("JWT_SECRET", "Auth:JwtSecret", v => v),
        ("ADMIN_USERNAME", "Auth:AdminUsername", v => v),
        ("ADMIN_PASSWORD", "Auth:AdminPassword", v => v),
        ("ADMIN_PASSWORD_HASH", "Auth:AdminPasswordHash", v => v),
        ("RATE_LIMIT_REQUESTS", "RateLimit:RequestsPerMinute", v => v),
        ("LOG_LEVEL", "Logging:LogLevel:Default", LogLevelName),
    ];

    /// <summary>Adds the contract's plain variables, as found in the configuration so far, on top of it: a plain
    /// variable that is set wins over its section key.</summary>
    public static void AddContractVariables(this IConfigurationBuilder builder, IConfiguration current) =>
        builder.AddInMemoryCollection(ContractVariables
            .Where(m => current[m.Variable] is { Length: > 0 })
            .Select(m => KeyValuePair.Create(m.Key, m.Value(current[m.Variable]!)))
            .Where(p => p.Value is not null));

    /// <summary>The variable that sets a section key: the contract's plain one where there is one, else the
    /// section's own (<c>RateLimit__Burst</c>).</summary>
    public static string Variable(string key) =>
        ContractVariables.FirstOrDefault(m => m.Key == key).Variable is { } plain
            ? $"{plain} (or {key.Replace(":", "__")})"
            : key.Replace(":", "__");

    private static string? LogLevelName(string value) => value.ToLowerInvariant() switch
    {
        "debug" => nameof(LogLevel.Debug),
        "info" => nameof(LogLevel.Information),
        "warn" => nameof(LogLevel.Warning),
        "error" => nameof(LogLevel.Error),
        _ => null,
    };
}
