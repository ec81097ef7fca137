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

    /// <summary>
    /// The integral value of a number node. Goes through the JSON text because a <see cref="JsonValue"/> built from an
    /// int does not answer <c>TryGetValue&lt;long&gt;</c>, while one parsed from a request does.
    /// </summary>
    public static long? Long(JsonNode? node)
    {
        if (node is not JsonValue v || v.GetValueKind() != JsonValueKind.Number) return null;
        var raw = v.ToJsonString();
        if (long.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l)) return l;
        return double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && d == Math.Floor(d) && Math.Abs(d) < 9.2e18
            ? (long)d
            : null;
    }

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

    public static bool IsInteger(JsonValue v) => v.GetValueKind() == JsonValueKind.Number && Long(v) is not null;

    public static double Number(JsonValue v) => double.Parse(v.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture);
}
