using System.Text.Json.Nodes;
using KubeEmulator.Patching;
using KubeEmulator.Resources;

namespace KubeEmulator.OpenApi;

/// <summary>
/// The REST operations of one resource as OpenAPI path items, named and tagged like the apiserver's
/// (<c>x-kubernetes-action</c>, <c>x-kubernetes-group-version-kind</c>), with the query parameters the emulator reads.
/// kubectl looks for the <c>fieldValidation</c> parameter of a kind's PATCH operation to decide that the server
/// validates fields, and then sends <c>fieldValidation=Strict</c> instead of validating on the client.
/// </summary>
internal static class Operations
{
    private static readonly string[] WriteParameters = ["dryRun", "fieldManager", "fieldValidation"];

    public static IEnumerable<(string Path, JsonObject Item)> For(ResourceType type, string version, string schemaName, bool v3)
    {
        var prefix = type.Group.Length == 0 ? $"/api/{version}" : $"/apis/{type.Group}/{version}";
        var scope = type.Namespaced ? "/namespaces/{namespace}" : "";
        var collection = $"{prefix}{scope}/{type.Plural}";
        var item = $"{collection}/{{name}}";
        var id = OperationId(type, version);
        var reference = (v3 ? "#/components/schemas/" : "#/definitions/") + schemaName;
        var op = new Builder(type, version, reference, v3);

        var pathParameters = type.Namespaced ? new[] { "namespace" } : [];
        yield return (collection, op.Item(pathParameters,
            ("get", op.Operation($"list{id}", "list", ["labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "timeoutSeconds", "watch", "allowWatchBookmarks"], list: true)),
            ("post", op.Operation($"create{id}", "post", WriteParameters, body: true)),
            ("delete", op.Operation($"deletecollection{id}", "deletecollection", ["dryRun", "labelSelector", "fieldSelector"]))));
        yield return (item, op.Item([.. pathParameters, "name"],
            ("get", op.Operation($"read{id}", "get", [])),
            ("put", op.Operation($"replace{id}", "put", WriteParameters, body: true)),
            ("patch", op.Operation($"patch{id}", "patch", [.. WriteParameters, "force"], body: true, patch: true)),
            ("delete", op.Operation($"delete{id}", "delete", ["dryRun"]))));
        if (type.HasStatus)
            yield return ($"{item}/status", op.Item([.. pathParameters, "name"],
                ("get", op.Operation($"read{id}Status", "get", [])),
                ("put", op.Operation($"replace{id}Status", "put", WriteParameters, body: true)),
                ("patch", op.Operation($"patch{id}Status", "patch", [.. WriteParameters, "force"], body: true, patch: true))));
    }

    /// <summary>e.g. <c>NamespacedDeployment</c> of apps/v1 becomes <c>AppsV1NamespacedDeployment</c>.</summary>
    private static string OperationId(ResourceType type, string version)
    {
        var group = type.Group.Length == 0 ? "Core" : string.Concat(type.Group.Split('.', '-').Select(Capitalize));
        return $"{group}{Capitalize(version)}{(type.Namespaced ? "Namespaced" : "")}{type.Kind}";
    }

    private static string Capitalize(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..];

    private sealed class Builder(ResourceType type, string version, string reference, bool v3)
    {
        public JsonObject Item(string[] pathParameters, params (string Method, JsonObject Operation)[] operations)
        {
            var item = new JsonObject();
            foreach (var (method, operation) in operations) item[method] = operation;
            item["parameters"] = new JsonArray(pathParameters.Select(p => (JsonNode)Parameter(p, "path")).ToArray());
            return item;
        }

        public JsonObject Operation(string id, string action, string[] query, bool body = false, bool patch = false, bool list = false)
        {
            var operation = new JsonObject
            {
                ["operationId"] = id,
                ["x-kubernetes-action"] = action,
                ["x-kubernetes-group-version-kind"] = new JsonObject { ["group"] = type.Group, ["kind"] = type.Kind, ["version"] = version },
                ["parameters"] = new JsonArray(query.Select(p => (JsonNode)Parameter(p, "query")).ToArray()),
                ["responses"] = new JsonObject { ["200"] = Response(list) },
            };
            if (body)
            {
                string[] mediaTypes = patch ? PatchTypes.AcceptedFor(type) : ["application/json", "application/yaml"];
                var schema = patch ? new JsonObject { ["type"] = "object" } : new JsonObject { ["$ref"] = reference };
                if (v3)
                    operation["requestBody"] = new JsonObject
                    {
                        ["required"] = true,
                        ["content"] = new JsonObject(mediaTypes.Select(m => KeyValuePair.Create(m, (JsonNode?)new JsonObject { ["schema"] = schema.DeepClone() }))),
                    };
                else
                {
                    operation["consumes"] = new JsonArray(mediaTypes.Select(m => (JsonNode)m).ToArray());
                    ((JsonArray)operation["parameters"]!).Add(new JsonObject { ["name"] = "body", ["in"] = "body", ["required"] = true, ["schema"] = schema });
                }
            }
            return operation;
        }

        private JsonObject Response(bool list)
        {
            // A list has no schema of its own here; the items' schema is what clients read.
            var schema = list ? new JsonObject { ["type"] = "object" } : new JsonObject { ["$ref"] = reference };
            return v3
                ? new JsonObject { ["description"] = "OK", ["content"] = new JsonObject { ["application/json"] = new JsonObject { ["schema"] = schema } } }
                : new JsonObject { ["description"] = "OK", ["schema"] = schema };
        }

        private JsonObject Parameter(string name, string location)
        {
            var type = name switch
            {
                "limit" or "timeoutSeconds" => "integer",
                "watch" or "allowWatchBookmarks" or "force" => "boolean",
                _ => "string",
            };
            var parameter = new JsonObject { ["name"] = name, ["in"] = location };
            if (location == "path") parameter["required"] = true;
            if (v3) parameter["schema"] = new JsonObject { ["type"] = type };
            else parameter["type"] = type;
            return parameter;
        }
    }
}
