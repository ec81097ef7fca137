using System.Text.Json.Nodes;
using KubeEmulator.Api;
using KubeEmulator.Resources;

namespace KubeEmulator.Patching;

/// <summary>The patch media types the apiserver accepts, and the one way a JSON, merge or strategic merge patch is
/// applied to an object, with the apiserver's answers when it cannot be (400 for a malformed JSON patch, 422 when it
/// does not apply or does not leave an object).</summary>
internal static class PatchTypes
{
    public const string Json = "application/json-patch+json";
    public const string Merge = "application/merge-patch+json";
    public const string StrategicMerge = "application/strategic-merge-patch+json";
    public const string Apply = "application/apply-patch+yaml";

    /// <summary>What a PATCH of a kind accepts: custom resources have no strategic merge patch (no patch strategy
    /// metadata to merge lists by).</summary>
    public static string[] AcceptedFor(ResourceType type) =>
        type.IsCustom ? [Json, Merge, Apply] : [Json, Merge, StrategicMerge, Apply];

    /// <summary>Applies a non-apply patch. <paramref name="definition"/> is the object's OpenAPI definition, which a
    /// strategic merge patch needs for its list merge keys; without one it merges as a merge patch does.</summary>
    public static JsonObject ApplyTo(JsonObject current, string mediaType, JsonNode? patch, string? definition, JsonObject? details = null)
    {
        try
        {
            var result = mediaType switch
            {
                Json => JsonPatch.Apply(current, patch as JsonArray ?? throw ApiException.BadRequest("json patch must be a list of operations")),
                StrategicMerge when definition is not null => StrategicMergePatch.Apply(current, patch, definition),
                _ => MergePatch.Apply(current, patch),
            };
            return result as JsonObject ?? throw new ApiException(422, "Invalid", "the patch did not produce an object");
        }
        catch (JsonPatch.PatchException e)
        {
            throw new ApiException(422, "Invalid", e.Message, details);
        }
    }
}
