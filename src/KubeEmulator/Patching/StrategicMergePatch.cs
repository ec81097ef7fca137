using System.Text.Json.Nodes;
using KubeEmulator.Api;
using KubeEmulator.Json;
using KubeEmulator.OpenApi;

namespace KubeEmulator.Patching;

/// <summary>
/// Strategic merge patch for built-in kinds, driven by the published definitions' <c>x-kubernetes-patch-strategy</c>
/// and <c>x-kubernetes-patch-merge-key</c> (what k8s.io/apimachinery/pkg/util/strategicpatch reads from the Go
/// struct tags): lists marked "merge" are merged by their key (containers by name, env by name, ports by
/// containerPort ...) or, for lists of scalars, united; other lists replace. Directives honoured: <c>$patch</c>
/// (replace, delete, merge) on maps and list items, <c>$retainKeys</c>, <c>$deleteFromPrimitiveList/</c> and
/// <c>$setElementOrder/</c> (the order is not reapplied: merged items keep their place, new ones go last).
/// </summary>
internal static class StrategicMergePatch
{
    private const string DirectiveKey = "$patch";
    private const string RetainKeys = "$retainKeys";
    private const string DeleteFromPrimitiveList = "$deleteFromPrimitiveList/";
    private const string SetElementOrder = "$setElementOrder/";

    public static JsonObject Apply(JsonObject current, JsonNode? patch, string definition)
    {
        if (patch is not JsonObject patchObject) throw ApiException.BadRequest("strategic merge patch must be a JSON object");
        var spec = KubernetesOpenApi.Instance;
        return MergeMap(current, patchObject, spec.Definitions[definition]) ?? new JsonObject();
    }

    private static JsonObject? MergeMap(JsonObject original, JsonObject patch, JsonObject? schema)
    {
        schema = Resolve(schema);
        switch (JsonTree.Str(patch[DirectiveKey]))
        {
            case "delete":
                return null;
            case "replace":
                var replaced = (JsonObject)patch.DeepClone();
                replaced.Remove(DirectiveKey);
                return replaced;
        }
        var result = (JsonObject)original.DeepClone();
        if (patch[RetainKeys] is JsonArray retain)
        {
            var keep = retain.Select(JsonTree.Str).OfType<string>().ToHashSet(StringComparer.Ordinal);
            foreach (var key in result.Select(p => p.Key).Where(k => !keep.Contains(k)).ToList()) result.Remove(key);
        }
        foreach (var (key, value) in patch)
        {
            if (key is DirectiveKey or RetainKeys || key.StartsWith(SetElementOrder, StringComparison.Ordinal)) continue;
            if (key.StartsWith(DeleteFromPrimitiveList, StringComparison.Ordinal))
            {
                var field = key[DeleteFromPrimitiveList.Length..];
                if (result[field] is JsonArray list && value is JsonArray remove)
                    foreach (var item in list.Where(i => remove.Any(r => JsonTree.DeepEquals(r, i))).ToList()) list.Remove(item);
                continue;
            }
            if (value is null)
            {
                result.Remove(key);
                continue;
            }
            var property = PropertySchema(schema, key);
            JsonNode? merged = (result[key], value) switch
            {
                (JsonObject a, JsonObject b) => MergeMap(a, b, property),
                (JsonArray a, JsonArray b) when IsMergeList(property) => MergeList(a, b, property!),
                (_, JsonObject b) => MergeMap(new JsonObject(), b, property),
                _ => WithoutDirectives(value),
            };
            result.Remove(key);
            if (merged is not null) result[key] = merged;
        }
        return result;
    }

    private static JsonArray MergeList(JsonArray original, JsonArray patch, JsonObject property)
    {
        if (patch.OfType<JsonObject>().Any(i => JsonTree.Str(i[DirectiveKey]) == "replace"))
            return new JsonArray(patch.Where(i => !(i is JsonObject o && JsonTree.Str(o[DirectiveKey]) == "replace")).Select(WithoutDirectives).ToArray());

        var mergeKey = JsonTree.Str(property["x-kubernetes-patch-merge-key"]);
        var itemSchema = property["items"] as JsonObject;
        var result = (JsonArray)original.DeepClone();
        foreach (var item in patch)
        {
            if (mergeKey is null || item is not JsonObject patchItem)
            {
                // A list of scalars with the merge strategy is a set union.
                if (!result.Any(existing => JsonTree.DeepEquals(existing, item))) result.Add(item?.DeepClone());
                continue;
            }
            var key = patchItem[mergeKey];
            var index = result.Select((existing, i) => (existing, i)).FirstOrDefault(p => p.existing is JsonObject o && JsonTree.DeepEquals(o[mergeKey], key), (null, -1)).Item2;
            if (JsonTree.Str(patchItem[DirectiveKey]) == "delete")
            {
                if (index >= 0) result.RemoveAt(index);
                continue;
            }
            if (index < 0)
            {
                result.Add(MergeMap(new JsonObject(), patchItem, itemSchema));
                continue;
            }
            var merged = MergeMap((JsonObject)result[index]!, patchItem, itemSchema);
            result.RemoveAt(index);
            if (merged is not null) result.Insert(index, merged);
        }
        return result;
    }

    private static bool IsMergeList(JsonObject? property) =>
        JsonTree.Str(property?["x-kubernetes-patch-strategy"])?.Split(',').Contains("merge") == true;

    private static JsonObject? PropertySchema(JsonObject? schema, string key)
    {
        if (schema is null) return null;
        if (schema["properties"]?[key] is JsonObject property) return property;
        return schema["additionalProperties"] as JsonObject;
    }

    /// <summary>A property's own node keeps the patch extensions; the definition it refers to has the fields.</summary>
    private static JsonObject? Resolve(JsonObject? schema) =>
        schema is not null && KubernetesOpenApi.Instance.Resolve(schema) is { } resolved ? resolved.Schema : schema;

    private static JsonNode? WithoutDirectives(JsonNode? value)
    {
        var copy = value?.DeepClone();
        Strip(copy);
        return copy;

        static void Strip(JsonNode? node)
        {
            switch (node)
            {
                case JsonObject o:
                    foreach (var key in o.Select(p => p.Key).Where(k => k.StartsWith('$')).ToList()) o.Remove(key);
                    foreach (var (_, child) in o) Strip(child);
                    break;
                case JsonArray a:
                    foreach (var child in a) Strip(child);
                    break;
            }
        }
    }
}
