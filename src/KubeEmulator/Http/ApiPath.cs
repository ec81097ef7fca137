using KubeEmulator.Api;
using KubeEmulator.Resources;

namespace KubeEmulator.Http;

/// <summary>
/// A resource URL taken apart: <c>/api/v1/...</c> or <c>/apis/{group}/{version}/...</c> followed by
/// <c>[namespaces/{ns}/]{plural}[/{name}[/{subresource}]]</c>.
/// </summary>
internal sealed record ApiPath(ResourceType Type, string Version, string? Namespace, string? Name, string? Subresource)
{
    public bool IsCollection => Name is null;

    /// <summary>Returns null for discovery paths (no resource segment); throws 404 for unknown resources.</summary>
    public static ApiPath? Parse(ResourceRegistry registry, string group, string version, string[] rest)
    {
        if (rest.Length == 0) return null;
        string? ns = null;
        if (rest is ["namespaces", _, var plural, ..] && registry.Find(group, version, plural) is { Namespaced: true })
        {
            ns = rest[1];
            rest = rest[2..];
        }
        var type = registry.Find(group, version, rest[0]) ?? throw ApiException.NotFoundPath();
        if (rest.Length > 3) throw ApiException.NotFoundPath();
        var name = rest.Length > 1 ? rest[1] : null;
        var sub = rest.Length > 2 ? rest[2] : null;

        // Namespaced kinds are addressed through their namespace, except for the cross-namespace list/watch.
        if (type.Namespaced && ns is null && name is not null) throw ApiException.NotFoundPath();
        if (sub is not null && !(sub == "status" && type.HasStatus) && !(sub == "log" && type.Kind == "Pod" && !type.IsCustom)
            && !(sub == "scale" && ScaleSubresource.Supports(type)))
            throw ApiException.NotFoundPath();
        return new ApiPath(type, version, ns, name, sub);
    }
}
