using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace KubeEmulator.Json;

/// <summary>Small helpers over <see cref="JsonNode"/> used throughout the emulator.</summary>
internal static class JsonTree
{
    /// <summary>
    /// Parses JSON into a fully built tree. <see cref="JsonNode.Parse(string, JsonNodeOptions?, JsonDocumentOptions)"/>
    /// builds objects lazily on first access, which is not safe once the tree is shared read-only between threads.
    /// </summary>
    public static JsonNode? ParseMaterialized(string json)
    {
        var node = JsonNode.Parse(json);
        Touch(node);
        return node;
    }

    private static void Touch(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (_, v) in o) Touch(v);
                break;
            case JsonArray a:
                foreach (var v in a) Touch(v);
                break;
        }
    }

    public static JsonObject Obj(JsonObject parent, string name)
    {
        if (parent[name] is JsonObject existing) return existing;
        var created = new JsonObject();
        parent[name] = created;
        return created;
    }

    public static string? Str(JsonNode? node) =>
        node is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;

    public static long? Long(JsonNode? node) =>
        node is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<long>(out var l) ? l
        : node is JsonValue d && d.GetValueKind() == JsonValueKind.Number && d.TryGetValue<double>(out var x) && x == Math.Floor(x) ? (long)x
        : null;

    public static bool DeepEquals(JsonNode? a, JsonNode? b) => JsonNode.DeepEquals(a, b);

    public static string Timestamp(DateTimeOffset t) =>
        t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    public static string Now() => Timestamp(DateTimeOffset.UtcNow);

    /// <summary>Go-style %q / %v rendering of a value inside an apiserver error message.</summary>
    public static string Render(JsonNode? node) => node switch
    {
        null => "null",
        JsonValue v when v.GetValueKind() == JsonValueKind.String => JsonSerializer.Serialize(v.GetValue<string>()),
        JsonValue v => v.ToJsonString(),
        JsonObject => "\"object\"",
        _ => "\"array\"",
    };

    /// <summary>JSON type name as kube-openapi reports it in type errors.</summary>
    public static string TypeName(JsonNode? node) => node switch
    {
        null => "null",
        JsonObject => "object",
        JsonArray => "array",
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => "string",
            JsonValueKind.True or JsonValueKind.False => "boolean",
            JsonValueKind.Number => IsInteger(v) ? "integer" : "number",
            _ => "null",
        },
        _ => "unknown",
    };

    public static bool IsInteger(JsonValue v)
    {
        if (v.GetValueKind() != JsonValueKind.Number) return false;
        if (v.TryGetValue<long>(out _)) return true;
        var raw = v.ToJsonString();
        return !raw.Contains('.') && !raw.Contains('e') && !raw.Contains('E');
    }

    public static double Number(JsonValue v) =>
        v.TryGetValue<double>(out var d) ? d : double.Parse(v.ToJsonString(), CultureInfo.InvariantCulture);
}
