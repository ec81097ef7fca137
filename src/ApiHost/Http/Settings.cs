using Microsoft.Extensions.Options;

namespace Inference.ApiHost.Http;

/// <summary>The one way settings reach the API host: every settings class is bound from its section, checked at
/// start, and a failed check names the environment variable to set. The contract's plain variables (JWT_SECRET,
/// ADMIN_*, RATE_LIMIT_REQUESTS, LOG_LEVEL) are mapped onto those sections here and nowhere else.</summary>
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

    /// <summary>Binds <typeparamref name="T"/> from <paramref name="section"/>, checked at start by
    /// <paramref name="problem"/> (what is wrong, naming the variable; null when usable).</summary>
    public static OptionsBuilder<T> AddSettings<T>(this IServiceCollection services, string section, Func<T, string?> problem)
        where T : class
    {
        services.AddSingleton<IValidateOptions<T>>(new Check<T>(problem));
        return services.AddOptions<T>().BindConfiguration(section).ValidateOnStart();
    }

    private static string? LogLevelName(string value) => value.ToLowerInvariant() switch
    {
        "debug" => nameof(LogLevel.Debug),
        "info" => nameof(LogLevel.Information),
        "warn" => nameof(LogLevel.Warning),
        "error" => nameof(LogLevel.Error),
        _ => null,
    };

    private sealed class Check<T>(Func<T, string?> problem) : IValidateOptions<T> where T : class
    {
        public ValidateOptionsResult Validate(string? name, T options) =>
            problem(options) is { } text ? ValidateOptionsResult.Fail(text) : ValidateOptionsResult.Success;
    }
}
