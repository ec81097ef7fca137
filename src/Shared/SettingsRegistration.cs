using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Inference.Shared;

/// <summary>The one way settings reach a process of this service (API host, silo, grains): every settings class is
/// bound from its configuration section and checked at start, and a failed check names the variable to set.</summary>
public static class SettingsRegistration
{
    /// <summary>Binds <typeparamref name="T"/> from <paramref name="section"/>, checked at start by
    /// <paramref name="problem"/> (what is wrong, naming the variable; null when usable).</summary>
    public static OptionsBuilder<T> AddSettings<T>(this IServiceCollection services, string section, Func<T, string?> problem)
        where T : class
    {
        services.AddSingleton<IValidateOptions<T>>(new Check<T>(problem));
        return services.AddOptions<T>().BindConfiguration(section).ValidateOnStart();
    }

    private sealed class Check<T>(Func<T, string?> problem) : IValidateOptions<T> where T : class
    {
        public ValidateOptionsResult Validate(string? name, T options) =>
            problem(options) is { } text ? ValidateOptionsResult.Fail(text) : ValidateOptionsResult.Success;
    }
}
