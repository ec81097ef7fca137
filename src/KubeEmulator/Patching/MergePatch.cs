using System.Text.Json.Nodes;

namespace KubeEmulator.Patching;

/// <summary>RFC 7386 JSON Merge Patch: objects merge recursively, <c>null</c> deletes, anything else replaces.</summary>
internal static class MergePatch
{
    public static JsonNode? Apply(JsonNode? target, JsonNode? patch)
    {
        if (patch is not JsonObject patchObj) return patch?.DeepClone();
        var result = target as JsonObject ?? new JsonObject();
        foreach (var (key, value) in patchObj)
        {
            if (value is null) result.Remove(key);
            else
            {
                var merged = Apply(result[key], value);
                result.Remove(key);
                result[key] = merged;
            }
        }
        return result;
    }
}
