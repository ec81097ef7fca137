namespace Inference.Grains.Abstractions;

/// <summary>Grain keys for resources that live in a tenant's namespace: "{namespace}/{name}" never collides
/// across tenants because neither part may contain a slash.</summary>
public static class GrainKeys
{
    public static string Scoped(string @namespace, string name) => $"{@namespace}/{name}";

    public static (string Namespace, string Name) Split(string key)
    {
        var slash = key.IndexOf('/');
        if (slash <= 0 || slash == key.Length - 1)
        {
            throw new ArgumentException($"'{key}' is not a namespace/name key.", nameof(key));
        }
        return (key[..slash], key[(slash + 1)..]);
    }
}
