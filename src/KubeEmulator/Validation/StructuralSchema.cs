using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using KubeEmulator.Json;

namespace KubeEmulator.Validation;

/// <summary>
/// An immutable, compiled form of one node of a CRD <c>openAPIV3Schema</c>. Compiling once (regexes included) keeps
/// validation of large CRDs cheap and makes the schema safe to share between emulator instances and threads.
/// </summary>
internal sealed class StructuralSchema
{
    public string? Type { get; private init; }
    public IReadOnlyDictionary<string, StructuralSchema>? Properties { get; private init; }
    public IReadOnlyList<string> Required { get; private init; } = [];
    /// <summary>Schema for map values; <see cref="AnyAdditionalProperties"/> covers <c>additionalProperties: true</c>.</summary>
    public StructuralSchema? AdditionalProperties { get; private init; }
    public bool AnyAdditionalProperties { get; private init; }
    public StructuralSchema? Items { get; private init; }
    public IReadOnlyList<JsonNode?>? Enum { get; private init; }
    public bool Nullable { get; private init; }
    public double? Minimum { get; private init; }
    public double? Maximum { get; private init; }
    public bool ExclusiveMinimum { get; private init; }
    public bool ExclusiveMaximum { get; private init; }
    public long? MinLength { get; private init; }
    public long? MaxLength { get; private init; }
    public long? MinItems { get; private init; }
    public long? MaxItems { get; private init; }
    public long? MinProperties { get; private init; }
    public long? MaxProperties { get; private init; }
    public Regex? Pattern { get; private init; }
    public string? Format { get; private init; }
    public IReadOnlyList<StructuralSchema>? AnyOf { get; private init; }
    public IReadOnlyList<StructuralSchema>? OneOf { get; private init; }
    public IReadOnlyList<StructuralSchema>? AllOf { get; private init; }
    public StructuralSchema? Not { get; private init; }
    public bool IntOrString { get; private init; }
    public bool PreserveUnknownFields { get; private init; }
    public bool EmbeddedResource { get; private init; }
    public JsonNode? Default { get; private init; }

    /// <summary>True when the node constrains object fields, i.e. unknown fields at this level are pruned.</summary>
    public bool PrunesUnknownFields => !PreserveUnknownFields && AdditionalProperties is null && !AnyAdditionalProperties;

    public static StructuralSchema Compile(JsonObject node)
    {
        return new StructuralSchema
        {
            Type = JsonTree.Str(node["type"]),
            Properties = node["properties"] is JsonObject props
                ? props.ToDictionary(p => p.Key, p => Compile((JsonObject)p.Value!), StringComparer.Ordinal)
                : null,
            Required = node["required"] is JsonArray req ? req.Select(r => JsonTree.Str(r) ?? "").ToArray() : [],
            AdditionalProperties = node["additionalProperties"] as JsonObject is { } ap ? Compile(ap) : null,
            AnyAdditionalProperties = node["additionalProperties"] is JsonValue apv && apv.GetValue<bool>(),
            Items = node["items"] as JsonObject is { } items ? Compile(items) : null,
            Enum = node["enum"] is JsonArray en ? en.Select(e => e?.DeepClone()).ToArray() : null,
            Nullable = Flag(node, "nullable"),
            Minimum = Num(node["minimum"]),
            Maximum = Num(node["maximum"]),
            ExclusiveMinimum = Flag(node, "exclusiveMinimum"),
            ExclusiveMaximum = Flag(node, "exclusiveMaximum"),
            MinLength = JsonTree.Long(node["minLength"]),
            MaxLength = JsonTree.Long(node["maxLength"]),
            MinItems = JsonTree.Long(node["minItems"]),
            MaxItems = JsonTree.Long(node["maxItems"]),
            MinProperties = JsonTree.Long(node["minProperties"]),
            MaxProperties = JsonTree.Long(node["maxProperties"]),
            Pattern = JsonTree.Str(node["pattern"]) is { } p ? new Regex(EndOfTextAnchors(p), RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)) : null,
            Format = JsonTree.Str(node["format"]),
            AnyOf = List(node["anyOf"]),
            OneOf = List(node["oneOf"]),
            AllOf = List(node["allOf"]),
            Not = node["not"] as JsonObject is { } not ? Compile(not) : null,
            IntOrString = Flag(node, "x-kubernetes-int-or-string"),
            PreserveUnknownFields = Flag(node, "x-kubernetes-preserve-unknown-fields"),
            EmbeddedResource = Flag(node, "x-kubernetes-embedded-resource"),
            Default = node["default"]?.DeepClone(),
        };
    }

    /// <summary>The apiserver evaluates CRD patterns with Go's RE2, where <c>$</c> matches only at the end of the text;
    /// in .NET it also matches before a final newline, which would let "name\n" pass. Every <c>$</c> that is an anchor
    /// (not escaped, not inside a character class) becomes <c>\z</c>.</summary>
    internal static string EndOfTextAnchors(string pattern)
    {
        var result = new System.Text.StringBuilder(pattern.Length + 4);
        var inClass = false;
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            if (c == '\\' && i + 1 < pattern.Length)
            {
                result.Append(c).Append(pattern[++i]);
                continue;
            }
            if (c == '[') inClass = true;
            else if (c == ']') inClass = false;
            result.Append(c == '$' && !inClass ? "\\z" : c.ToString());
        }
        return result.ToString();
    }

    private static bool Flag(JsonObject node, string name) => node[name] is JsonValue v && v.TryGetValue<bool>(out var b) && b;

    private static double? Num(JsonNode? node) => node is JsonValue v ? JsonTree.Number(v) : null;

    private static IReadOnlyList<StructuralSchema>? List(JsonNode? node) =>
        node is JsonArray arr ? arr.Select(n => Compile((JsonObject)n!)).ToArray() : null;
}
