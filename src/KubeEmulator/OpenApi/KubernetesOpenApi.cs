using System.Reflection;
using System.Text.Json.Nodes;
using KubeEmulator.Json;

namespace KubeEmulator.OpenApi;

/// <summary>
/// The OpenAPI v2 document of Kubernetes 1.33 as the Kubernetes project publishes it (a verbatim copy, see
/// OpenApi/Spec/NOTICE.md): the schemas of the built-in kinds, so that they are validated and described from the
/// real definitions rather than from rules written for the emulator.
/// </summary>
internal sealed class KubernetesOpenApi
{
    public const string ResourceName = "KubeEmulator.OpenApi.kubernetes-1.33-swagger.json";
    private const string DefinitionPrefix = "#/definitions/";

    // ~3.7 MB of JSON: parsed once per process; the tree is never modified after loading, so instances share it.
    private static readonly Lazy<KubernetesOpenApi> Loaded = new(Load);

    private readonly Dictionary<(string Group, string Version, string Kind), string> _byKind = new();

    private KubernetesOpenApi(JsonObject document)
    {
        Document = document;
        Definitions = ((JsonObject)document["definitions"]!).ToDictionary(p => p.Key, p => (JsonObject)p.Value!, StringComparer.Ordinal);
        foreach (var (name, definition) in Definitions)
            if (definition["x-kubernetes-group-version-kind"] is JsonArray gvks)
                foreach (var gvk in gvks.OfType<JsonObject>())
                    _byKind.TryAdd((JsonTree.Str(gvk["group"]) ?? "", JsonTree.Str(gvk["version"])!, JsonTree.Str(gvk["kind"])!), name);
    }

    public static KubernetesOpenApi Instance => Loaded.Value;

    /// <summary>The whole published document (read-only).</summary>
    public JsonObject Document { get; }

    public IReadOnlyDictionary<string, JsonObject> Definitions { get; }

    /// <summary>The definition name of a top-level kind, e.g. <c>io.k8s.api.apps.v1.Deployment</c>.</summary>
    public string? DefinitionOf(string group, string version, string kind) => _byKind.GetValueOrDefault((group, version, kind));

    /// <summary>Follows a <c>$ref</c> ("#/definitions/x") to its definition; null when the node has none.</summary>
    public (string Name, JsonObject Schema)? Resolve(JsonObject node)
    {
        if (JsonTree.Str(node["$ref"]) is not { } reference || !reference.StartsWith(DefinitionPrefix, StringComparison.Ordinal)) return null;
        var name = reference[DefinitionPrefix.Length..];
        return Definitions.TryGetValue(name, out var schema) ? (name, schema) : null;
    }

    private static KubernetesOpenApi Load()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"embedded resource {ResourceName} is missing");
        using var reader = new StreamReader(stream);
        return new KubernetesOpenApi((JsonObject)JsonTree.ParseMaterialized(reader.ReadToEnd())!);
    }
}
