using System.Text.Json.Nodes;
using KubeEmulator.Resources;

namespace KubeEmulator.Api;

/// <summary>
/// A failure that the HTTP layer turns into a <c>kind: Status</c> body. Factories reproduce the messages of
/// k8s.io/apimachinery/pkg/api/errors so clients that parse them behave as against a real server.
/// </summary>
internal sealed class ApiException(int code, string reason, string message, JsonObject? details = null) : Exception(message)
{
    public const string OptimisticLockMessage =
        "the object has been modified; please apply your changes to the latest version and try again";

    public int Code { get; } = code;
    public string Reason { get; } = reason;
    public JsonObject? Details { get; } = details;

    public JsonObject ToStatus() => StatusBody(Code, Reason, Message, Details?.DeepClone());

    public static JsonObject StatusBody(int code, string reason, string message, JsonNode? details)
    {
        var status = new JsonObject
        {
            ["kind"] = "Status",
            ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject(),
            ["status"] = "Failure",
            ["message"] = message,
            ["reason"] = reason,
        };
        if (details is not null) status["details"] = details;
        status["code"] = code;
        return status;
    }

    private static JsonObject ResourceDetails(ResourceType type, string name) => new()
    {
        ["name"] = name,
        ["group"] = type.Group,
        ["kind"] = type.Plural,
    };

    public static ApiException NotFound(ResourceType type, string name) =>
        new(404, "NotFound", $"{type.QualifiedResource} \"{name}\" not found", ResourceDetails(type, name));

    public static ApiException NamespaceNotFound(string ns) =>
        new(404, "NotFound", $"namespaces \"{ns}\" not found", new JsonObject { ["name"] = ns, ["kind"] = "namespaces" });

    public static ApiException AlreadyExists(ResourceType type, string name) =>
        new(409, "AlreadyExists", $"{type.QualifiedResource} \"{name}\" already exists", ResourceDetails(type, name));

    public static ApiException Conflict(ResourceType type, string name) =>
        new(409, "Conflict", $"Operation cannot be fulfilled on {type.QualifiedResource} \"{name}\": {OptimisticLockMessage}",
            ResourceDetails(type, name));

    public static ApiException Invalid(ResourceType type, string name, IReadOnlyList<FieldError> errors)
    {
        var summary = errors.Count == 1 ? errors[0].ToString() : "[" + string.Join(", ", errors) + "]";
        var causes = new JsonArray(errors.Select(e => (JsonNode)new JsonObject
        {
            ["reason"] = e.Reason,
            ["message"] = e.Detail,
            ["field"] = e.Field,
        }).ToArray());
        return new ApiException(422, "Invalid", $"{type.QualifiedKind} \"{name}\" is invalid: {summary}", new JsonObject
        {
            ["name"] = name,
            ["group"] = type.Group,
            ["kind"] = type.Kind,
            ["causes"] = causes,
        });
    }

    public static ApiException BadRequest(string message) => new(400, "BadRequest", message);

    /// <summary>A body the decoder refused (wrong JSON type, or unknown fields under strict field validation).</summary>
    public static ApiException CannotBeHandled(ResourceType type, string version, string why) =>
        BadRequest($"{type.Kind} in version \"{version}\" cannot be handled as a {type.Kind}: {why}");

    /// <summary>Invalid request options (CreateOptions, PatchOptions, ...): 422 as the apiserver's options validation.</summary>
    public static ApiException InvalidOptions(string kind, IReadOnlyList<FieldError> errors)
    {
        var summary = errors.Count == 1 ? errors[0].ToString() : "[" + string.Join(", ", errors) + "]";
        return new ApiException(422, "Invalid", $"{kind}.meta.k8s.io \"\" is invalid: {summary}", new JsonObject
        {
            ["group"] = "meta.k8s.io",
            ["kind"] = kind,
            ["causes"] = new JsonArray(errors.Select(e => (JsonNode)new JsonObject { ["reason"] = e.Reason, ["message"] = e.Detail, ["field"] = e.Field }).ToArray()),
        });
    }

    public static ApiException MethodNotAllowed(string message) => new(405, "MethodNotAllowed", message);

    public static ApiException UnsupportedMediaType(IEnumerable<string> accepted) =>
        new(415, "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: " + string.Join(", ", accepted));

    public static ApiException Expired(long requested, long oldest) =>
        new(410, "Expired", $"too old resource version: {requested} ({oldest})");

    public static ApiException NotFoundPath() => new(404, "NotFound", "the server could not find the requested resource");
}
