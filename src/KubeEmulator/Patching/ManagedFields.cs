using System.Text.Json.Nodes;
using KubeEmulator.Api;
using KubeEmulator.Json;
using KubeEmulator.OpenApi;
using KubeEmulator.Resources;

namespace KubeEmulator.Patching;

/// <summary>
/// Field ownership as server-side apply keeps it in <c>metadata.managedFields</c> (FieldsV1): which manager set which
/// leaf field. Lists whose published patch strategy merges by a key are owned item by item (<c>k:{"name":"main"}</c>);
/// other lists, and every list of a custom resource, are owned whole. An apply that would change a field another
/// manager owns is a 409 conflict unless forced, which takes the field over; fields a manager applied before and
/// leaves out now are removed when nobody else owns them.
/// </summary>
internal static class ManagedFields
{
    private static readonly HashSet<string> Unowned = ["f:apiVersion", "f:kind", "f:metadata/f:name", "f:metadata/f:namespace",
        "f:metadata/f:uid", "f:metadata/f:resourceVersion", "f:metadata/f:generation", "f:metadata/f:creationTimestamp",
        "f:metadata/f:managedFields", "f:metadata/f:deletionTimestamp", "f:metadata/f:deletionGracePeriodSeconds"];

    /// <summary>The leaf fields of <paramref name="obj"/>, as paths of FieldsV1 path elements joined by '/'.</summary>
    public static HashSet<string> Leaves(ResourceType type, JsonObject obj)
    {
        var leaves = new HashSet<string>(StringComparer.Ordinal);
        var schema = type.OpenApiDefinition is { } definition ? KubernetesOpenApi.Instance.Definitions[definition] : null;
        Collect(obj, schema, "", leaves);
        leaves.RemoveWhere(l => Unowned.Contains(l) || l.StartsWith("f:status", StringComparison.Ordinal));
        return leaves;
    }

    private static void Collect(JsonNode? node, JsonObject? schema, string path, HashSet<string> leaves)
    {
        schema = schema is not null && KubernetesOpenApi.Instance.Resolve(schema) is { } resolved ? resolved.Schema : schema;
        switch (node)
        {
            case JsonObject obj when obj.Count > 0:
                foreach (var (key, child) in obj)
                {
                    var property = schema?["properties"]?[key] as JsonObject ?? schema?["additionalProperties"] as JsonObject;
                    Collect(child, property, Join(path, "f:" + key), leaves);
                }
                break;
            case JsonArray array when MergeKey(schema) is { } mergeKey && array.All(i => i is JsonObject o && o.ContainsKey(mergeKey)):
                foreach (var item in array.OfType<JsonObject>())
                {
                    var itemPath = Join(path, ItemKey(mergeKey, item[mergeKey]));
                    leaves.Add(Join(itemPath, "."));
                    Collect(item, schema!["items"] as JsonObject, itemPath, leaves);
                }
                break;
            default:
                if (path.Length > 0) leaves.Add(path);
                break;
        }
    }

    /// <summary>Set when the list's schema node (the property, which carries the patch extensions) merges by key.</summary>
    private static string? MergeKey(JsonObject? schema) =>
        JsonTree.Str(schema?["x-kubernetes-patch-strategy"])?.Split(',').Contains("merge") == true ? JsonTree.Str(schema!["x-kubernetes-patch-merge-key"]) : null;

    private static string ItemKey(string mergeKey, JsonNode? value) => "k:" + new JsonObject { [mergeKey] = value?.DeepClone() }.ToJsonString();

    private static string Join(string path, string element) => path.Length == 0 ? element : $"{path}/{element}";

    /// <summary>The value at a leaf path (null when absent), to tell whether an apply changes a field.</summary>
    public static JsonNode? ValueAt(JsonObject obj, string path)
    {
        JsonNode? node = obj;
        foreach (var element in path.Split('/'))
        {
            if (element == ".") return node;
            node = element[..2] switch
            {
                "f:" => (node as JsonObject)?[element[2..]],
                "k:" => (node as JsonArray)?.FirstOrDefault(i => i is JsonObject o && JsonNode.Parse(element[2..]) is JsonObject key && key.All(k => JsonTree.DeepEquals(o[k.Key], k.Value))),
                _ => null,
            };
            if (node is null) return null;
        }
        return node;
    }

    /// <summary>Removes the field at a leaf path (a map key, or a keyed list item for its "." marker).</summary>
    public static void RemoveAt(JsonObject obj, string path)
    {
        var elements = path.Split('/');
        if (elements[^1] == ".") elements = elements[..^1];
        var parent = elements.Length == 1 ? obj : ValueAt(obj, string.Join('/', elements[..^1]));
        var last = elements[^1];
        if (last.StartsWith("f:", StringComparison.Ordinal) && parent is JsonObject map) map.Remove(last[2..]);
        else if (last.StartsWith("k:", StringComparison.Ordinal) && parent is JsonArray list && ValueAt(obj, string.Join('/', elements)) is { } item) list.Remove(item);
        else return;
        // A map or list left empty by the removal goes too, as structured-merge-diff leaves no empty remnants.
        if (elements.Length > 1 && parent is JsonObject { Count: 0 } or JsonArray { Count: 0 })
            RemoveAt(obj, string.Join('/', elements[..^1]));
    }

    /// <summary>An entry's fields as FieldsV1: nested objects keyed by path element, leaves as {}.</summary>
    public static JsonObject ToFieldsV1(IEnumerable<string> leaves)
    {
        var root = new JsonObject();
        foreach (var leaf in leaves.Order(StringComparer.Ordinal))
        {
            var node = root;
            foreach (var element in leaf.Split('/')) node = JsonTree.Obj(node, element);
        }
        return root;
    }

    public static HashSet<string> FromFieldsV1(JsonNode? fields)
    {
        var leaves = new HashSet<string>(StringComparer.Ordinal);
        void Walk(JsonObject node, string path)
        {
            foreach (var (key, child) in node)
            {
                var childPath = Join(path, key);
                if (child is JsonObject { Count: > 0 } inner) Walk(inner, childPath);
                else leaves.Add(childPath);
            }
        }
        if (fields is JsonObject obj) Walk(obj, "");
        return leaves;
    }

    /// <summary>One managedFields entry, as kept on the object.</summary>
    public sealed record Entry(string Manager, string Operation, string ApiVersion, string? Subresource, HashSet<string> Fields)
    {
        public JsonObject ToJson() => new()
        {
            ["manager"] = Manager,
            ["operation"] = Operation,
            ["apiVersion"] = ApiVersion,
            ["time"] = JsonTree.Now(),
            ["fieldsType"] = "FieldsV1",
            ["fieldsV1"] = ToFieldsV1(Fields),
        };
    }

    public static List<Entry> Read(JsonObject obj) =>
        (obj["metadata"]?["managedFields"] as JsonArray)?.OfType<JsonObject>().Select(e => new Entry(
            JsonTree.Str(e["manager"]) ?? "", JsonTree.Str(e["operation"]) ?? "Update", JsonTree.Str(e["apiVersion"]) ?? "",
            JsonTree.Str(e["subresource"]), FromFieldsV1(e["fieldsV1"]))).ToList() ?? [];

    public static void Write(JsonObject obj, IEnumerable<Entry> entries) =>
        JsonTree.Obj(obj, "metadata")["managedFields"] = new JsonArray(entries.Where(e => e.Fields.Count > 0).Select(e => (JsonNode)e.ToJson()).ToArray());

    /// <summary>
    /// Server-side apply of <paramref name="applied"/> by <paramref name="manager"/> onto <paramref name="current"/>
    /// (a private copy): conflicts, the merge, removal of fields the manager dropped, and the new ownership.
    /// </summary>
    public static JsonObject Apply(ResourceType type, string apiVersion, JsonObject current, JsonObject applied, string manager, bool force,
        Func<JsonObject, JsonObject, JsonObject> merge)
    {
        var entries = Read(current);
        var appliedFields = Leaves(type, applied);
        var conflicts = new List<(Entry Owner, string Field)>();
        foreach (var entry in entries.Where(e => !(e.Manager == manager && e.Operation == "Apply")))
            foreach (var field in entry.Fields.Where(appliedFields.Contains))
                if (!JsonTree.DeepEquals(ValueAt(current, field), ValueAt(applied, field)))
                    conflicts.Add((entry, field));
        if (conflicts.Count > 0 && !force) throw Conflict(type, JsonTree.Str(current["metadata"]?["name"]) ?? "", conflicts);
        foreach (var (owner, field) in conflicts) owner.Fields.Remove(field);

        var previous = entries.FirstOrDefault(e => e.Manager == manager && e.Operation == "Apply");
        var result = merge(current, applied);
        if (previous is not null)
        {
            var ownedByOthers = entries.Where(e => e != previous).SelectMany(e => e.Fields).ToHashSet(StringComparer.Ordinal);
            // Whole list items first (their "." marker), while their key fields still identify them.
            foreach (var dropped in previous.Fields.Where(f => !appliedFields.Contains(f) && !ownedByOthers.Contains(f))
                         .OrderBy(f => f.EndsWith("/.", StringComparison.Ordinal) ? 0 : 1).ThenByDescending(f => f.Length))
                RemoveAt(result, dropped);
            entries.Remove(previous);
        }
        // A field another manager set to the value applied now is shared, as in structured-merge-diff.
        entries.Add(new Entry(manager, "Apply", apiVersion, null, appliedFields));
        Write(result, entries);
        return result;
    }

    /// <summary>A non-apply write by <paramref name="manager"/>: the fields it changed become its own.</summary>
    public static void RecordUpdate(ResourceType type, string apiVersion, JsonObject? before, JsonObject after, string manager)
    {
        var entries = before is null ? [] : Read(before);
        var beforeFields = before is null ? [] : Leaves(type, before);
        var changed = Leaves(type, after).Where(f => !beforeFields.Contains(f) || !JsonTree.DeepEquals(ValueAt(before!, f), ValueAt(after, f)))
            .ToHashSet(StringComparer.Ordinal);
        if (changed.Count == 0 && before is not null)
        {
            Write(after, entries);
            return;
        }
        foreach (var entry in entries) entry.Fields.ExceptWith(changed);
        var mine = entries.FirstOrDefault(e => e.Manager == manager && e.Operation == "Update");
        if (mine is null) entries.Add(new Entry(manager, "Update", apiVersion, null, changed));
        else mine.Fields.UnionWith(changed);
        Write(after, entries);
    }

    private static ApiException Conflict(ResourceType type, string name, List<(Entry Owner, string Field)> conflicts)
    {
        string Field(string path) => "." + string.Join('.', path.Split('/').Select(e => e.StartsWith("f:", StringComparison.Ordinal) ? e[2..] : $"[{e[2..]}]")).Replace(".[", "[");
        var lines = conflicts.GroupBy(c => (c.Owner.Manager, c.Owner.ApiVersion)).ToList();
        var count = conflicts.Count;
        var message = lines.Count == 1 && count == 1
            ? $"Apply failed with 1 conflict: conflict with \"{lines[0].Key.Manager}\" using {lines[0].Key.ApiVersion}: {Field(conflicts[0].Field)}"
            : $"Apply failed with {count} conflicts: " + string.Join("\n", lines.Select(g =>
                $"conflicts with \"{g.Key.Manager}\" using {g.Key.ApiVersion}:\n" + string.Join("\n", g.Select(c => "- " + Field(c.Field)))));
        return new ApiException(409, "Conflict", message, new JsonObject
        {
            ["name"] = name,
            ["group"] = type.Group,
            ["kind"] = type.Kind,
            ["causes"] = new JsonArray(conflicts.Select(c => (JsonNode)new JsonObject
            {
                ["reason"] = "FieldManagerConflict",
                ["message"] = $"conflict with \"{c.Owner.Manager}\" using {c.Owner.ApiVersion}",
                ["field"] = Field(c.Field),
            }).ToArray()),
        });
    }
}
