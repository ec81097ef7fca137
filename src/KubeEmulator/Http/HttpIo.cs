using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using KubeEmulator.Api;
using KubeEmulator.Json;
using KubeEmulator.Protobuf;
using KubeEmulator.Resources;

namespace KubeEmulator.Http;

/// <summary>Reading request bodies and writing JSON responses the way kube-apiserver does.</summary>
internal static class HttpIo
{
    public static async Task<JsonNode?> ReadBodyAsync(HttpRequest request)
    {
        var contentType = request.ContentType ?? "";
        if (contentType.StartsWith(ProtobufBody.ContentType, StringComparison.OrdinalIgnoreCase)) return await ReadProtobufAsync(request);
        // CBOR is off by default in client-go 1.33 (a feature gate); a 415 makes a client that tries it fall back to JSON.
        if (contentType.Contains("cbor", StringComparison.OrdinalIgnoreCase))
            throw ApiException.UnsupportedMediaType(AcceptedMediaTypes);
        using var reader = new StreamReader(request.Body, Encoding.UTF8);
        var text = await reader.ReadToEndAsync(request.HttpContext.RequestAborted);
        if (string.IsNullOrWhiteSpace(text)) throw ApiException.BadRequest("the body of the request was empty");
        try
        {
            return (request.ContentType ?? "").Contains("yaml", StringComparison.OrdinalIgnoreCase)
                ? YamlJson.Parse(text)
                : JsonTree.ParseMaterialized(text);
        }
        catch (Exception e) when (e is JsonException or YamlDotNet.Core.YamlException or FormatException)
        {
            throw ApiException.BadRequest($"the body of the request could not be decoded: {e.Message}");
        }
    }

    private static readonly string[] AcceptedMediaTypes = ["application/json", "application/yaml", ProtobufBody.ContentType];

    /// <summary>A built-in kind in protobuf, as typed clients write it; custom resources have no protobuf form (415, as
    /// from a real apiserver, after which client-go writes JSON).</summary>
    private static async Task<JsonNode?> ReadProtobufAsync(HttpRequest request)
    {
        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer, request.HttpContext.RequestAborted);
        if (buffer.Length == 0) throw ApiException.BadRequest("the body of the request was empty");
        try
        {
            return ProtobufBody.Read(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), ProtoSchema.Embedded)
                ?? throw ApiException.UnsupportedMediaType(["application/json", "application/yaml"]);
        }
        catch (Exception e) when (e is FormatException or Google.Protobuf.InvalidProtocolBufferException)
        {
            throw ApiException.BadRequest($"the body of the request could not be decoded: {e.Message}");
        }
    }

    public static async Task<JsonObject> ReadObjectAsync(HttpRequest request) =>
        await ReadBodyAsync(request) as JsonObject ?? throw ApiException.BadRequest("the body of the request must be a JSON object");

    public static Task WriteJsonAsync(HttpContext ctx, int status, JsonNode body)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        return ctx.Response.WriteAsync(body.ToJsonString(), ctx.RequestAborted);
    }

    public static Task WriteStatusAsync(HttpContext ctx, ApiException error) => WriteJsonAsync(ctx, error.Code, error.ToStatus());

    /// <summary>The object as seen through <paramref name="version"/>; stored snapshots are never modified.</summary>
    public static JsonObject Present(JsonObject obj, ResourceType type, string version)
    {
        var apiVersion = type.ApiVersion(version);
        if (JsonTree.Str(obj["apiVersion"]) == apiVersion && JsonTree.Str(obj["kind"]) == type.Kind) return obj;
        var copy = (JsonObject)obj.DeepClone();
        copy["apiVersion"] = apiVersion;
        copy["kind"] = type.Kind;
        return copy;
    }

    public static async Task WriteListAsync(HttpContext ctx, ResourceType type, string version, IReadOnlyList<JsonObject> items, long resourceVersion, string? continueToken)
    {
        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = "application/json";
        var buffer = new MemoryStream();
        await using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("kind", type.ListKind);
            writer.WriteString("apiVersion", type.ApiVersion(version));
            writer.WriteStartObject("metadata");
            writer.WriteString("resourceVersion", resourceVersion.ToString());
            if (continueToken is not null) writer.WriteString("continue", continueToken);
            writer.WriteEndObject();
            writer.WriteStartArray("items");
            foreach (var item in items) Present(item, type, version).WriteTo(writer);
            writer.WriteEndArray();
            writer.WriteEndObject();
        }
        buffer.Position = 0;
        await buffer.CopyToAsync(ctx.Response.Body, ctx.RequestAborted);
    }
}
