using System.Text.Json.Nodes;
using KubeEmulator.Api;
using KubeEmulator.Json;
using KubeEmulator.Patching;
using KubeEmulator.Resources;
using KubeEmulator.Store;

namespace KubeEmulator.Http;

/// <summary>The <c>/scale</c> subresource of Deployments: an <c>autoscaling/v1 Scale</c> read from the object, and
/// writes (update, merge/JSON/strategic patch) that change only <c>spec.replicas</c>. What <c>kubectl scale</c> and a
/// HorizontalPodAutoscaler use.</summary>
internal sealed class ScaleSubresource(ResourceStore store)
{
    public static bool Supports(ResourceType type) => !type.IsCustom && type.Kind == "Deployment";

    public static JsonObject Discovery(ResourceType type) => new()
    {
        ["name"] = $"{type.Plural}/scale",
        ["singularName"] = "",
        ["namespaced"] = type.Namespaced,
        ["group"] = "autoscaling",
        ["version"] = "v1",
        ["kind"] = "Scale",
        ["verbs"] = new JsonArray("get", "patch", "update"),
    };

    public Task ReadAsync(HttpContext ctx, ApiPath path) =>
        HttpIo.WriteJsonAsync(ctx, 200, Scale(store.Get(path.Type, path.Namespace, path.Name!)));

    public async Task ReplaceAsync(HttpContext ctx, ApiPath path)
    {
        var dryRun = WriteOptions.Parse(ctx.Request, "UpdateOptions").DryRun;
        var body = await HttpIo.ReadObjectAsync(ctx.Request);
        if (JsonTree.Str(body["kind"]) is { Length: > 0 } kind && kind != "Scale")
            throw ApiException.BadRequest($"the kind in the data ({kind}) does not match the expected kind (Scale)");
        if (JsonTree.Str(body["metadata"]?["name"]) is var name && name != path.Name)
            throw ApiException.BadRequest($"the name of the object ({name}) does not match the name on the URL ({path.Name})");
        await WriteAsync(ctx, path, _ => body, dryRun);
    }

    public async Task PatchAsync(HttpContext ctx, ApiPath path, string mediaType)
    {
        var dryRun = WriteOptions.Parse(ctx.Request, "PatchOptions").DryRun;
        var patch = await HttpIo.ReadBodyAsync(ctx.Request);
        // Scale has no lists with merge keys: a strategic merge patch of it is a merge patch.
        await WriteAsync(ctx, path, scale => PatchTypes.ApplyTo(scale, mediaType, patch, definition: null), dryRun);
    }

    private async Task WriteAsync(HttpContext ctx, ApiPath path, Func<JsonObject, JsonObject> change, bool dryRun)
    {
        var updated = store.Update(path.Type, path.Namespace, path.Name!, current =>
        {
            var scale = change(Scale(current));
            var replicas = scale["spec"]?["replicas"];
            if (JsonTree.Long(replicas) is not { } count || replicas!.GetValueKind() != System.Text.Json.JsonValueKind.Number || count is < 0 or > int.MaxValue)
                throw ApiException.Invalid(path.Type, path.Name!,
                    [new FieldError("FieldValueInvalid", "spec.replicas", $"Invalid value: {replicas?.ToJsonString() ?? "null"}: must be greater than or equal to 0")]);
            JsonTree.Obj(current, "spec")["replicas"] = count;
            // The Scale's resourceVersion is the object's: one sent with the write is a precondition, none is not.
            current["metadata"]!["resourceVersion"] = JsonTree.Str(scale["metadata"]?["resourceVersion"]);
            return current;
        }, WriteScope.Main, requireResourceVersion: false, dryRun);
        await HttpIo.WriteJsonAsync(ctx, 200, Scale(updated));
    }

    private static JsonObject Scale(JsonObject obj)
    {
        var metadata = obj["metadata"]!;
        return new JsonObject
        {
            ["kind"] = "Scale",
            ["apiVersion"] = "autoscaling/v1",
            ["metadata"] = new JsonObject
            {
                ["name"] = metadata["name"]?.DeepClone(),
                ["namespace"] = metadata["namespace"]?.DeepClone(),
                ["uid"] = metadata["uid"]?.DeepClone(),
                ["resourceVersion"] = metadata["resourceVersion"]?.DeepClone(),
                ["creationTimestamp"] = metadata["creationTimestamp"]?.DeepClone(),
            },
            ["spec"] = new JsonObject { ["replicas"] = JsonTree.Long(obj["spec"]?["replicas"]) ?? 1 },
            ["status"] = new JsonObject
            {
                ["replicas"] = JsonTree.Long(obj["status"]?["replicas"]) ?? 0,
                ["selector"] = Selector(obj["spec"]?["selector"]),
            },
        };
    }

    /// <summary>The label selector in its string form (<c>app=web,tier in (a,b)</c>), as the Scale carries it.</summary>
    private static string Selector(JsonNode? selector)
    {
        var parts = new List<string>();
        if (selector?["matchLabels"] is JsonObject labels)
            parts.AddRange(labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={JsonTree.Str(l.Value)}"));
        if (selector?["matchExpressions"] is JsonArray expressions)
        {
            foreach (var e in expressions.OfType<JsonObject>())
            {
                var key = JsonTree.Str(e["key"]);
                var values = ((e["values"] as JsonArray) ?? []).Select(JsonTree.Str).Order(StringComparer.Ordinal);
                parts.Add(JsonTree.Str(e["operator"]) switch
                {
                    "In" => $"{key} in ({string.Join(",", values)})",
                    "NotIn" => $"{key} notin ({string.Join(",", values)})",
                    "Exists" => key!,
                    "DoesNotExist" => $"!{key}",
                    var other => $"{key} {other}",
                });
            }
        }
        return string.Join(",", parts);
    }
}
