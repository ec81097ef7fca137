using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using KubeEmulator.Hosting;
using KubeEmulator.Json;
using KubeEmulator.Resources;

namespace KubeEmulator.OpenApi;

/// <summary>
/// The OpenAPI documents of what the emulator serves, built from the published definitions of its built-in kinds and
/// the schemas of its CRDs: <c>/openapi/v3</c> (index and one document per group-version, which kubectl reads to
/// decide that the server validates fields itself and to explain kinds) and <c>/openapi/v2</c> (JSON). Each
/// operation carries the <c>x-kubernetes-group-version-kind</c> and the query parameters the emulator honours.
/// </summary>
internal sealed class OpenApiDocuments(ResourceRegistry registry)
{
    private const string ObjectMeta = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

    // The registry never changes after start, so each document is built once, on first request.
    private readonly Lazy<Dictionary<string, (string Json, string Hash)>> _v3 = new(() => BuildV3(registry));
    private readonly Lazy<string> _v2 = new(() => BuildV2(registry).ToJsonString());

    /// <summary>The <c>/openapi/v3</c> index: each group-version path with a URL that changes when its document does.</summary>
    public JsonObject V3Index() => new()
    {
        ["paths"] = new JsonObject(_v3.Value.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => KeyValuePair.Create(p.Key,
            (JsonNode?)new JsonObject { ["serverRelativeURL"] = $"/openapi/v3/{p.Key}?hash={p.Value.Hash}" }))),
    };

    /// <summary>The document of one group-version path ("api/v1", "apis/apps/v1"), or null if none is served there.</summary>
    public string? V3(string groupVersionPath) => _v3.Value.TryGetValue(groupVersionPath, out var doc) ? doc.Json : null;

    public string V2() => _v2.Value;

    private static Dictionary<string, (string Json, string Hash)> BuildV3(ResourceRegistry registry)
    {
        var documents = new Dictionary<string, (string, string)>(StringComparer.Ordinal);
        foreach (var group in registry.All.SelectMany(t => t.Versions.Select(v => (Type: t, v.Version))).GroupBy(x => GroupVersionPath(x.Type, x.Version)))
        {
            var schemas = new Definitions("#/components/schemas/");
            var paths = new JsonObject();
            foreach (var (type, version) in group)
            {
                var schemaName = schemas.AddKind(type, version);
                foreach (var (path, item) in Operations.For(type, version, schemaName, v3: true))
                    paths[path] = item;
            }
            var document = new JsonObject
            {
                ["openapi"] = "3.0.0",
                ["info"] = new JsonObject { ["title"] = "Kubernetes", ["version"] = KubeVersion.GitVersion },
                ["paths"] = paths,
                ["components"] = new JsonObject { ["schemas"] = schemas.Collected },
            };
            var json = document.ToJsonString();
            documents[group.Key] = (json, Convert.ToHexString(SHA512.HashData(Encoding.UTF8.GetBytes(json))));
        }
        return documents;
    }

    private static JsonObject BuildV2(ResourceRegistry registry)
    {
        var definitions = new Definitions("#/definitions/");
        var paths = new JsonObject();
        foreach (var type in registry.All)
            foreach (var (version, _) in type.Versions)
            {
                var schemaName = definitions.AddKind(type, version);
                foreach (var (path, item) in Operations.For(type, version, schemaName, v3: false))
                    paths[path] = item;
            }
        return new JsonObject
        {
            ["swagger"] = "2.0",
            ["info"] = new JsonObject { ["title"] = "Kubernetes", ["version"] = KubeVersion.GitVersion },
            ["paths"] = paths,
            ["definitions"] = definitions.Collected,
        };
    }

    private static string GroupVersionPath(ResourceType type, string version) =>
        type.Group.Length == 0 ? $"api/{version}" : $"apis/{type.Group}/{version}";

    /// <summary>
    /// The schemas one document needs: each kind's own and every definition it refers to, with references rewritten
    /// to where the document keeps them.
    /// </summary>
    private sealed class Definitions(string refPrefix)
    {
        public JsonObject Collected { get; } = new();

        public string AddKind(ResourceType type, string version)
        {
            if (type.OpenApiDefinition is { } definition)
            {
                AddDefinition(definition);
                return definition;
            }
            // The apiserver names a CRD's schema after its group reversed, then version and kind.
            var name = $"{string.Join('.', type.Group.Split('.').Reverse())}.{version}.{type.Kind}";
            var schema = type.CrdSchemas.TryGetValue(version, out var declared) ? (JsonObject)declared.DeepClone() : new JsonObject { ["type"] = "object" };
            var properties = JsonTree.Obj(schema, "properties");
            properties["apiVersion"] ??= new JsonObject { ["type"] = "string", ["description"] = "APIVersion defines the versioned schema of this representation of an object." };
            properties["kind"] ??= new JsonObject { ["type"] = "string", ["description"] = "Kind is a string value representing the REST resource this object represents." };
            properties["metadata"] = refPrefix.StartsWith("#/components/", StringComparison.Ordinal)
                ? new JsonObject { ["allOf"] = new JsonArray(new JsonObject { ["$ref"] = refPrefix + ObjectMeta }), ["description"] = "Standard object's metadata." }
                : new JsonObject { ["$ref"] = refPrefix + ObjectMeta, ["description"] = "Standard object's metadata." };
            schema["x-kubernetes-group-version-kind"] = new JsonArray(new JsonObject { ["group"] = type.Group, ["kind"] = type.Kind, ["version"] = version });
            Collected[name] = schema;
            AddDefinition(ObjectMeta);
            return name;
        }

        private void AddDefinition(string name)
        {
            if (Collected.ContainsKey(name)) return;
            var copy = (JsonObject)KubernetesOpenApi.Instance.Definitions[name].DeepClone();
            Collected[name] = copy;
            foreach (var referenced in Rewrite(copy)) AddDefinition(referenced);
        }

        /// <summary>Points every <c>$ref</c> of <paramref name="node"/> at this document and returns the names referred to.</summary>
        private List<string> Rewrite(JsonNode? node)
        {
            var found = new List<string>();
            switch (node)
            {
                case JsonObject obj:
                    if (JsonTree.Str(obj["$ref"]) is { } reference && reference.StartsWith("#/definitions/", StringComparison.Ordinal))
                    {
                        var name = reference["#/definitions/".Length..];
                        found.Add(name);
                        if (refPrefix.StartsWith("#/components/", StringComparison.Ordinal) && obj.Count > 1)
                        {
                            // OpenAPI 3 ignores a $ref's siblings, so the apiserver wraps it to keep the field's own
                            // description (which kubectl explain shows).
                            obj.Remove("$ref");
                            obj["allOf"] = new JsonArray(new JsonObject { ["$ref"] = refPrefix + name });
                        }
                        else
                        {
                            obj["$ref"] = refPrefix + name;
                        }
                    }
                    foreach (var (_, child) in obj) found.AddRange(Rewrite(child));
                    break;
                case JsonArray array:
                    foreach (var child in array) found.AddRange(Rewrite(child));
                    break;
            }
            return found;
        }
    }
}
