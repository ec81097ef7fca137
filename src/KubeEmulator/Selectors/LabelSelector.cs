using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using KubeEmulator.Api;
using KubeEmulator.Json;

namespace KubeEmulator.Selectors;

/// <summary>
/// A parsed <c>labelSelector</c> query: comma-separated requirements, all of which must hold.
/// Supports <c>=</c>, <c>==</c>, <c>!=</c>, <c>in</c>, <c>notin</c>, <c>key</c> and <c>!key</c>;
/// as in Kubernetes, <c>!=</c> and <c>notin</c> also match objects without the key.
/// </summary>
internal sealed partial class LabelSelector
{
    private enum Op { Equals, NotEquals, In, NotIn, Exists, DoesNotExist }

    private sealed record Requirement(string Key, Op Op, IReadOnlyList<string> Values);

    private readonly IReadOnlyList<Requirement> _requirements;

    private LabelSelector(IReadOnlyList<Requirement> requirements) => _requirements = requirements;

    public static LabelSelector Everything { get; } = new([]);

    public static LabelSelector Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return Everything;
        return new LabelSelector(SplitTopLevel(text).Select(ParseRequirement).ToList());
    }

    public bool Matches(JsonObject obj)
    {
        var labels = obj["metadata"]?["labels"] as JsonObject;
        foreach (var r in _requirements)
        {
            var value = labels is not null && labels.TryGetPropertyValue(r.Key, out var v) ? JsonTree.Str(v) ?? "" : null;
            var ok = r.Op switch
            {
                Op.Exists => value is not null,
                Op.DoesNotExist => value is null,
                Op.Equals or Op.In => value is not null && r.Values.Contains(value),
                Op.NotEquals or Op.NotIn => value is null || !r.Values.Contains(value),
                _ => false,
            };
            if (!ok) return false;
        }
        return true;
    }

    /// <summary>Splits on commas that are not inside a <c>( ... )</c> value set.</summary>
    private static IEnumerable<string> SplitTopLevel(string text)
    {
        var depth = 0;
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '(') depth++;
            else if (text[i] == ')') depth--;
            else if (text[i] == ',' && depth == 0)
            {
                yield return text[start..i];
                start = i + 1;
            }
        }
        yield return text[start..];
    }

    private static Requirement ParseRequirement(string raw)
    {
        var term = raw.Trim();
        Match m;
        if ((m = SetPattern().Match(term)).Success)
        {
            var values = m.Groups["values"].Value.Split(',').Select(v => v.Trim()).ToList();
            foreach (var value in values) CheckValue(term, value);
            return new Requirement(CheckKey(term, m.Groups["key"].Value), m.Groups["op"].Value == "in" ? Op.In : Op.NotIn, values);
        }
        if ((m = EqualityPattern().Match(term)).Success)
        {
            var value = m.Groups["value"].Value.Trim();
            CheckValue(term, value);
            var op = m.Groups["op"].Value == "!=" ? Op.NotEquals : Op.Equals;
            return new Requirement(CheckKey(term, m.Groups["key"].Value), op, [value]);
        }
        if (term.StartsWith('!'))
            return new Requirement(CheckKey(term, term[1..].Trim()), Op.DoesNotExist, []);
        return new Requirement(CheckKey(term, term), Op.Exists, []);
    }

    private static string CheckKey(string term, string key)
    {
        if (!KeyPattern().IsMatch(key))
            throw ApiException.BadRequest($"unable to parse requirement: invalid label key \"{key}\" in \"{term}\"");
        return key;
    }

    private static void CheckValue(string term, string value)
    {
        if (value.Length > 63 || !ValuePattern().IsMatch(value))
            throw ApiException.BadRequest($"unable to parse requirement: invalid label value: \"{value}\" in \"{term}\"");
    }

    [GeneratedRegex(@"^(?<key>[^\s!=(),]+)\s+(?<op>in|notin)\s*\((?<values>[^()]*)\)\z")]
    private static partial Regex SetPattern();

    [GeneratedRegex(@"^(?<key>[^\s!=(),]+)\s*(?<op>==|!=|=)\s*(?<value>[^=!(),]*)\z")]
    private static partial Regex EqualityPattern();

    [GeneratedRegex(@"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?\z")]
    private static partial Regex KeyPattern();

    [GeneratedRegex("^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?\\z")]
    private static partial Regex ValuePattern();
}
