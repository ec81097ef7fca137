using System.Text.Json.Nodes;
using KubeEmulator.Hosting;
using KubeEmulator.Resources;

namespace KubeEmulator.Http;

/// <summary>The legacy discovery documents (<c>/api</c>, <c>/apis</c>, <c>/apis/{g}</c>, resource lists).</summary>
internal sealed class Discovery(ResourceRegistry registry, EmulatorAddress address)
{
    public JsonObject CoreVersions(HttpContext ctx) => new()
    {
        ["kind"] = "APIVersions",
        ["versions"] = new JsonArray("v1"),
        ["serverAddressByClientCIDRs"] = new JsonArray(new JsonObject
        {
            ["clientCIDR"] = "0.0.0.0/0",
            ["serverAddress"] = new Uri(address.BaseUrl).Authority,
        }),
    };

    public JsonObject Groups() => new()
    {
        ["kind"] = "APIGroupList",
        ["apiVersion"] = "v1",
        ["groups"] = new JsonArray(GroupNames().Select(g => (JsonNode)Group(g)!).ToArray()),
    };

    public JsonObject? Group(string group)
    {
        var types = registry.All.Where(t => t.Group == group && group.Length > 0).ToList();
        if (types.Count == 0) return null;
        var versions = types.SelectMany(t => t.Versions.Select(v => v.Version)).Distinct().ToList();
        var preferred = types[0].PreferredVersion;
        JsonObject Version(string v) => new() { ["groupVersion"] = $"{group}/{v}", ["version"] = v };
        return new JsonObject
        {
            ["kind"] = "APIGroup",
            ["apiVersion"] = "v1",
            ["name"] = group,
            ["versions"] = new JsonArray(versions.Select(v => (JsonNode)Version(v)).ToArray()),
            ["preferredVersion"] = Version(preferred),
        };
    }

    public JsonObject? Resources(string group, string version)
    {
        var types = registry.All.Where(t => t.Group == group && t.Serves(version)).ToList();
        if (types.Count == 0) return null;
        var resources = new JsonArray();
        foreach (var t in types)
        {
            resources.Add(new JsonObject
            {
                ["name"] = t.Plural,
                ["singularName"] = t.Singular,
                ["namespaced"] = t.Namespaced,
                ["kind"] = t.Kind,
                ["verbs"] = new JsonArray("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
                ["shortNames"] = new JsonArray(t.ShortNames.Select(s => (JsonNode)s).ToArray()),
            });
            if (t.HasStatus)
                resources.Add(Sub(t, "status", ["get", "patch", "update"]));
            if (t.Kind == "Pod" && !t.IsCustom)
                resources.Add(Sub(t, "log", ["get"]));
            if (ScaleSubresource.Supports(t))
                resources.Add(ScaleSubresource.Discovery(t));
        }
        return new JsonObject
        {
            ["kind"] = "APIResourceList",
            ["apiVersion"] = "v1",
            ["groupVersion"] = group.Length == 0 ? version : $"{group}/{version}",
            ["resources"] = resources,
        };
    }

    private static JsonObject Sub(ResourceType t, string name, string[] verbs) => new()
    {
        ["name"] = $"{t.Plural}/{name}",
        ["singularName"] = "",
        ["namespaced"] = t.Namespaced,
        ["kind"] = name == "log" ? "Pod" : t.Kind,
        ["verbs"] = new JsonArray(verbs.Select(v => (JsonNode)v).ToArray()),
    };

    private IEnumerable<string> GroupNames() => registry.All.Select(t => t.Group).Where(g => g.Length > 0).Distinct();
}
