using Inference.Grains.Abstractions.Keys;
using Inference.Grains.Abstractions.Publishing;

namespace Inference.Shared.Keys;

/// <summary>Whether a validation's target is the key's own publication.</summary>
public static class KeyScopes
{
    public static KeyScope Of(PublishConfig config) => new(
        config.PublicHostname,
        config.ModelType == ModelTypes.OpenAi ? null : config.ExternalPath,
        config.AllowedTenants);

    /// <summary>True when every part of <paramref name="target"/> that is known matches the key's publication. A key
    /// issued before scopes were recorded has none: it is then held to its tenant and model alone.</summary>
    public static bool Admits(string tenant, string model, KeyScope? scope, KeyTarget target)
    {
        if (target.Namespace is { } ns && !string.Equals(ns, tenant, StringComparison.Ordinal))
        {
            return false;
        }
        if (target.Model is { } name && !string.Equals(name, model, StringComparison.Ordinal))
        {
            return false;
        }
        if (target.ModelHeader is { } header && !string.Equals(header, model, StringComparison.Ordinal))
        {
            return false;
        }
        if (scope is null)
        {
            return true;
        }
        if (target.Host is { } host && !string.Equals(host, scope.Hostname, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
        if (target.Path is { } path && scope.PathPrefix is { } prefix && !IsUnder(path, prefix))
        {
            return false;
        }
        return scope.AllowedTenants.Count == 0
            || (target.CallerTenant is { } caller && scope.AllowedTenants.Contains(caller, StringComparer.Ordinal));
    }

    /// <summary>Gateway API <c>PathPrefix</c> semantics: whole segments, case-sensitive; "/a" holds "/a" and "/a/b",
    /// not "/ab".</summary>
    public static bool IsUnder(string path, string prefix)
    {
        var trimmed = prefix.AsSpan().TrimEnd('/');
        if (trimmed.IsEmpty)
        {
            return path.StartsWith('/');
        }
        return path.AsSpan().StartsWith(trimmed, StringComparison.Ordinal)
            && (path.Length == trimmed.Length || path[trimmed.Length] == '/');
    }
}
