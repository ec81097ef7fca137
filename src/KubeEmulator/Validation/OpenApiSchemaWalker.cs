using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using KubeEmulator.Api;
using KubeEmulator.Json;
using KubeEmulator.OpenApi;

namespace KubeEmulator.Validation;

/// <summary>What decoding an object against its built-in schema found.</summary>
internal sealed class DecodeFindings
{
    /// <summary>Paths of fields the schema does not declare (dropped, like the apiserver's decoder drops them).</summary>
    public List<string> UnknownFields { get; } = [];
    /// <summary>The first type mismatch, worded as Go's encoding/json reports it (the apiserver answers 400).</summary>
    public string? DecodeError { get; set; }
    /// <summary>Missing required scalar and list fields (422 Invalid, as the kind's Go validation reports them).</summary>
    public List<FieldError> Errors { get; } = [];
}

/// <summary>
/// Decodes an object of a built-in kind against the published OpenAPI definitions the way the apiserver decodes it
/// into its Go types: unknown fields are found (and removed when asked), JSON types must match the Go field types, and
/// required scalar and list fields must be present. Required struct-typed fields are not checked: in Go a missing
/// struct is an empty one, and the kind's own validation decides whether that is allowed.
/// </summary>
internal static partial class OpenApiSchemaWalker
{
    private const string IntOrString = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
    private const string Quantity = "io.k8s.apimachinery.pkg.api.resource.Quantity";

    public static DecodeFindings Decode(JsonObject obj, string definition, bool removeUnknown)
    {
        var spec = KubernetesOpenApi.Instance;
        var findings = new DecodeFindings();
        new Walk(spec, findings, removeUnknown).Value(obj, definition, spec.Definitions[definition], "", definition);
        return findings;
    }

    /// <summary>Unknown fields of <c>metadata</c> alone, for custom resources (whose schema does not describe it).</summary>
    public static List<string> UnknownMetadataFields(JsonObject obj)
    {
        const string objectMeta = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
        if (obj["metadata"] is not JsonObject metadata) return [];
        var spec = KubernetesOpenApi.Instance;
        var findings = new DecodeFindings();
        new Walk(spec, findings, removeUnknown: false).Value(metadata, objectMeta, spec.Definitions[objectMeta], "metadata", objectMeta);
        return findings.UnknownFields;
    }

    private sealed class Walk(KubernetesOpenApi spec, DecodeFindings findings, bool removeUnknown)
    {
        public void Value(JsonNode? value, string? definition, JsonObject schema, string path, string parentStruct)
        {
            if (spec.Resolve(schema) is { } resolved)
            {
                definition = resolved.Name;
                schema = resolved.Schema;
            }
            // Go decodes null into the zero value of any field.
            if (value is null) return;
            var kind = JsonKind(value);
            switch (definition)
            {
                case IntOrString:
                    if (kind is not ("string" or "number")) Mismatch(kind, path, parentStruct, "intstr.IntOrString");
                    return;
                case Quantity:
                    if (kind is not ("string" or "number")) Mismatch(kind, path, parentStruct, "resource.Quantity");
                    else if (kind == "string" && !QuantityPattern().IsMatch(value.GetValue<string>()))
                        findings.DecodeError ??= "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
                    return;
            }

            var type = JsonTree.Str(schema["type"]);
            switch (type)
            {
                case "object" when schema["properties"] is JsonObject properties:
                    if (value is not JsonObject obj)
                    {
                        Mismatch(kind, path, parentStruct, GoType(definition, schema));
                        return;
                    }
                    var structName = definition is null ? parentStruct : definition[(definition.LastIndexOf('.') + 1)..];
                    foreach (var (name, child) in obj.ToList())
                    {
                        var childPath = path.Length == 0 ? name : $"{path}.{name}";
                        if (properties[name] is JsonObject childSchema)
                            Value(child, null, childSchema, childPath, structName);
                        else if (!IsTypeMeta(path, name))
                        {
                            findings.UnknownFields.Add(childPath);
                            if (removeUnknown) obj.Remove(name);
                        }
                    }
                    // Status is written by controllers and kubelets; the apiserver does not require its fields.
                    if (schema["required"] is JsonArray required && !path.StartsWith("status", StringComparison.Ordinal))
                        foreach (var name in required.Select(JsonTree.Str).OfType<string>())
                            if (!obj.ContainsKey(name) && properties[name] is JsonObject p && JsonTree.Str(p["$ref"]) is null)
                                findings.Errors.Add(FieldError.Required(path.Length == 0 ? name : $"{path}.{name}"));
                    return;
                case "object":
                    if (value is not JsonObject map)
                    {
                        Mismatch(kind, path, parentStruct, GoType(definition, schema));
                        return;
                    }
                    if (schema["additionalProperties"] is JsonObject valueSchema)
                        foreach (var (key, item) in map)
                            Value(item, null, valueSchema, $"{path}.{key}", parentStruct);
                    return;
                case "array":
                    if (value is not JsonArray array)
                    {
                        Mismatch(kind, path, parentStruct, GoType(definition, schema));
                        return;
                    }
                    if (schema["items"] is JsonObject itemSchema)
                        for (var i = 0; i < array.Count; i++)
                            Value(array[i], null, itemSchema, $"{path}[{i}]", parentStruct);
                    return;
                case "string" when kind != "string":
                case "boolean" when kind != "bool":
                case "number" when kind != "number":
                    Mismatch(kind, path, parentStruct, GoType(definition, schema));
                    return;
                case "integer" when kind != "number" || !JsonTree.IsInteger((JsonValue)value):
                    Mismatch(kind, path, parentStruct, GoType(definition, schema));
                    return;
            }
        }

        /// <summary>apiVersion and kind of the top-level object are read before decoding, so they are never unknown.</summary>
        private static bool IsTypeMeta(string path, string name) => path.Length == 0 && name is "apiVersion" or "kind";

        private void Mismatch(string kind, string path, string parentStruct, string goType)
        {
            var field = Regex.Replace(path, @"\[\d+\]", "");
            findings.DecodeError ??= $"json: cannot unmarshal {kind} into Go struct field {parentStruct}.{field} of type {goType}";
        }

        private string GoType(string? definition, JsonObject schema)
        {
            if (definition is not null)
            {
                var parts = definition.Split('.');
                return $"{parts[^2]}.{parts[^1]}";
            }
            return JsonTree.Str(schema["type"]) switch
            {
                "integer" => JsonTree.Str(schema["format"]) ?? "int",
                "number" => "float64",
                "boolean" => "bool",
                "array" when schema["items"] is JsonObject items => "[]" + GoType(spec.Resolve(items)?.Name, spec.Resolve(items)?.Schema ?? items),
                "object" when schema["additionalProperties"] is JsonObject values => "map[string]" + GoType(spec.Resolve(values)?.Name, spec.Resolve(values)?.Schema ?? values),
                var other => other ?? "interface {}",
            };
        }
    }

    /// <summary>The JSON kind as Go's encoding/json names it in UnmarshalTypeError.</summary>
    private static string JsonKind(JsonNode value) => value switch
    {
        JsonObject => "object",
        JsonArray => "array",
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => "string",
            JsonValueKind.Number => "number",
            JsonValueKind.True or JsonValueKind.False => "bool",
            _ => "null",
        },
        _ => "null",
    };

    [GeneratedRegex(@"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)\z")]
    private static partial Regex QuantityPattern();
}
