using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using KubeEmulator.Json;

namespace KubeEmulator.Tables;

/// <summary>
/// The subset of kubectl's JSONPath that CRD printer columns use: fields (<c>.a.b</c>), indexes and slices
/// (<c>[0]</c>, <c>[-1:]</c>, <c>[*]</c>) and filters comparing a field with a literal
/// (<c>[?(@.type=='Ready')]</c>, <c>[?(@.latestRevision==true)]</c>).
/// </summary>
internal static partial class JsonPath
{
    public static List<JsonNode?> Find(JsonNode? root, string path)
    {
        var current = new List<JsonNode?> { root };
        foreach (Match step in Step().Matches(path.Trim().TrimStart('{').TrimEnd('}')))
        {
            var next = new List<JsonNode?>();
            foreach (var node in current)
            {
                if (step.Groups["field"].Success)
                {
                    if (node is JsonObject obj && obj.TryGetPropertyValue(step.Groups["field"].Value, out var child)) next.Add(child);
                }
                else if (node is JsonArray array)
                {
                    next.AddRange(Select(array, step.Groups["index"].Value));
                }
            }
            current = next;
        }
        return current;
    }

    private static IEnumerable<JsonNode?> Select(JsonArray array, string selector)
    {
        if (selector == "*") return array;
        if (FilterPattern().Match(selector) is { Success: true } filter)
        {
            var literal = filter.Groups["value"].Value;
            JsonNode? expected = literal.StartsWith('\'') || literal.StartsWith('"') ? JsonValue.Create(literal[1..^1])
                : literal is "true" or "false" ? JsonValue.Create(literal == "true")
                : JsonNode.Parse(literal);
            return array.Where(item => Find(item, filter.Groups["path"].Value) is [var value] && JsonTree.DeepEquals(value, expected));
        }
        if (selector.Contains(':'))
        {
            var parts = selector.Split(':');
            int Bound(string text, int fallback) => text.Length == 0 ? fallback : int.Parse(text) is var i && i < 0 ? Math.Max(0, array.Count + i) : Math.Min(i, array.Count);
            var start = Bound(parts[0], 0);
            var end = Bound(parts[1], array.Count);
            return array.Skip(start).Take(Math.Max(0, end - start));
        }
        var index = int.Parse(selector);
        if (index < 0) index += array.Count;
        return index >= 0 && index < array.Count ? [array[index]] : [];
    }

    [GeneratedRegex(@"\.(?<field>[A-Za-z0-9_\-/]+)|\[(?<index>[^\]]+)\]")]
    private static partial Regex Step();

    [GeneratedRegex(@"^\?\(@(?<path>[^=!<>]+)==(?<value>.+)\)$")]
    private static partial Regex FilterPattern();
}
