using System.Text.Json.Nodes;
using KubeEmulator.Api;
using KubeEmulator.Json;
using KubeEmulator.Resources;

namespace KubeEmulator.Selectors;

/// <summary>
/// A parsed <c>fieldSelector</c>: <c>field=value</c>, <c>field==value</c>, <c>field!=value</c>, comma-separated.
/// Only the fields the apiserver indexes are accepted: metadata.name/namespace for every kind, plus a few pod fields.
/// </summary>
internal sealed class FieldSelector
{
    private static readonly Dictionary<string, Func<JsonObject, string?>> CommonFields = new()
    {
        ["metadata.name"] = o => JsonTree.Str(o["metadata"]?["name"]),
        ["metadata.namespace"] = o => JsonTree.Str(o["metadata"]?["namespace"]) ?? "",
    };

    private static readonly Dictionary<string, Func<JsonObject, string?>> PodFields = new()
    {
        ["spec.nodeName"] = o => JsonTree.Str(o["spec"]?["nodeName"]) ?? "",
        ["status.phase"] = o => JsonTree.Str(o["status"]?["phase"]) ?? "",
    };

    private readonly IReadOnlyList<(Func<JsonObject, string?> Get, bool Negate, string Value)> _terms;

    private FieldSelector(IReadOnlyList<(Func<JsonObject, string?>, bool, string)> terms) => _terms = terms;

    public static FieldSelector Everything { get; } = new([]);

    public static FieldSelector Parse(string? text, ResourceType type)
    {
        if (string.IsNullOrWhiteSpace(text)) return Everything;
        var terms = new List<(Func<JsonObject, string?>, bool, string)>();
        foreach (var raw in text.Split(','))
        {
            var term = raw.Trim();
            var (op, idx) = term.IndexOf("!=", StringComparison.Ordinal) is var ne and >= 0 ? ("!=", ne)
                : term.IndexOf("==", StringComparison.Ordinal) is var ee and >= 0 ? ("==", ee)
                : ("=", term.IndexOf('='));
            if (idx <= 0) throw ApiException.BadRequest($"invalid selector: '{text}'; can't understand '{term}'");
            var field = term[..idx].Trim();
            var value = term[(idx + op.Length)..].Trim();
            terms.Add((Resolve(field, type), op == "!=", value));
        }
        return new FieldSelector(terms);
    }

    public bool Matches(JsonObject obj) => _terms.All(t => (t.Get(obj) == t.Value) != t.Negate);

    private static Func<JsonObject, string?> Resolve(string field, ResourceType type)
    {
        if (CommonFields.TryGetValue(field, out var getter)) return getter;
        if (type.Kind == "Pod" && !type.IsCustom && PodFields.TryGetValue(field, out getter)) return getter;
        throw ApiException.BadRequest(type.IsCustom
            ? $"\"{field}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
            : $"field label not supported: {field}");
    }
}
