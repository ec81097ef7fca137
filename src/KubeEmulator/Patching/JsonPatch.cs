using System.Text.Json.Nodes;
using KubeEmulator.Json;

namespace KubeEmulator.Patching;

/// <summary>RFC 6902 JSON Patch (add, remove, replace, move, copy, test) over RFC 6901 pointers.</summary>
internal static class JsonPatch
{
    public sealed class PatchException(string message) : Exception(message);

    public static JsonNode Apply(JsonNode document, JsonArray operations)
    {
        var root = new JsonObject { ["doc"] = document };
        foreach (var opNode in operations)
        {
            if (opNode is not JsonObject op) throw new PatchException("each operation must be an object");
            var name = JsonTree.Str(op["op"]) ?? throw new PatchException("operation is missing \"op\"");
            var path = JsonTree.Str(op["path"]) ?? throw new PatchException($"{name} operation is missing \"path\"");
            switch (name)
            {
                case "add": Add(root, path, Value(op)); break;
                case "remove": Remove(root, path); break;
                case "replace":
                    Remove(root, path);
                    Add(root, path, Value(op));
                    break;
                case "move":
                    var moved = Remove(root, From(op));
                    Add(root, path, moved);
                    break;
                case "copy": Add(root, path, Get(root, From(op))?.DeepClone()); break;
                case "test":
                    if (!JsonTree.DeepEquals(Get(root, path), op["value"]))
                        throw new PatchException($"testing value {path} failed");
                    break;
                default: throw new PatchException($"Unexpected kind: {name}");
            }
        }
        var result = root["doc"]!;
        root.Remove("doc");
        return result;
    }

    private static JsonNode? Value(JsonObject op) =>
        op.TryGetPropertyValue("value", out var v) ? v?.DeepClone() : throw new PatchException("operation is missing \"value\"");

    private static string From(JsonObject op) => JsonTree.Str(op["from"]) ?? throw new PatchException("operation is missing \"from\"");

    private static (JsonNode Parent, string Token) Resolve(JsonObject root, string pointer)
    {
        if (pointer.Length > 0 && pointer[0] != '/') throw new PatchException($"invalid JSON pointer \"{pointer}\"");
        var tokens = ("/doc" + pointer).Split('/').Skip(1).Select(t => t.Replace("~1", "/").Replace("~0", "~")).ToList();
        JsonNode current = root;
        foreach (var token in tokens.Take(tokens.Count - 1))
            current = Child(current, token) ?? throw new PatchException($"doc is missing path: \"{pointer}\"");
        return (current, tokens[^1]);
    }

    private static JsonNode? Child(JsonNode node, string token) => node switch
    {
        JsonObject o => o[token],
        JsonArray a when int.TryParse(token, out var i) && i >= 0 && i < a.Count => a[i],
        _ => null,
    };

    private static JsonNode? Get(JsonObject root, string pointer)
    {
        var (parent, token) = Resolve(root, pointer);
        return Child(parent, token);
    }

    private static void Add(JsonObject root, string pointer, JsonNode? value)
    {
        var (parent, token) = Resolve(root, pointer);
        switch (parent)
        {
            case JsonObject o:
                o.Remove(token);
                o[token] = value;
                break;
            case JsonArray a when token == "-":
                a.Add(value);
                break;
            case JsonArray a when int.TryParse(token, out var i) && i >= 0 && i <= a.Count:
                a.Insert(i, value);
                break;
            default:
                throw new PatchException($"unable to add at \"{pointer}\"");
        }
    }

    private static JsonNode? Remove(JsonObject root, string pointer)
    {
        var (parent, token) = Resolve(root, pointer);
        switch (parent)
        {
            case JsonObject o when o.ContainsKey(token):
                var removed = o[token];
                o.Remove(token);
                return removed;
            case JsonArray a when int.TryParse(token, out var i) && i >= 0 && i < a.Count:
                var item = a[i];
                a.RemoveAt(i);
                return item;
            default:
                throw new PatchException($"unable to remove nonexistent key: {token}: missing value");
        }
    }
}
