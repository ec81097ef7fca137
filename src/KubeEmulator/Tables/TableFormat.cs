using System.Text.Json.Nodes;
using KubeEmulator.Api;
using KubeEmulator.Http;
using KubeEmulator.Resources;

namespace KubeEmulator.Tables;

/// <summary>
/// Server-side printing: when a client asks for <c>application/json;as=Table;v=v1;g=meta.k8s.io</c> (kubectl get
/// does), reads and lists answer with a meta.k8s.io Table of the kind's columns instead of the objects. Each row
/// carries the object as <c>includeObject</c> asks: Metadata (the default, a PartialObjectMetadata), Object, or None.
/// </summary>
internal sealed class TableFormat
{
    private readonly ResourceType _type;
    private readonly string _version;
    private readonly string _apiVersion;
    private readonly string _include;
    private readonly IReadOnlyList<TableColumn> _columns;

    private TableFormat(ResourceType type, string version, string apiVersion, string include)
    {
        _type = type;
        _version = version;
        _apiVersion = apiVersion;
        _include = include;
        _columns = ColumnSets.For(type, version);
    }

    /// <summary>The Table format if the request's Accept header asks for one (first match wins), else null.</summary>
    public static TableFormat? Negotiate(HttpRequest request, ResourceType type, string version)
    {
        foreach (var mediaType in request.Headers.Accept.ToString().Split(','))
        {
            var parameters = mediaType.Split(';').Skip(1).Select(p => p.Split('=', 2)).Where(p => p.Length == 2)
                .ToDictionary(p => p[0].Trim(), p => p[1].Trim(), StringComparer.Ordinal);
            if (parameters.GetValueOrDefault("as") != "Table" || parameters.GetValueOrDefault("g") != "meta.k8s.io") continue;
            var v = parameters.GetValueOrDefault("v");
            if (v is not ("v1" or "v1beta1")) continue;
            var include = QueryParams.String(request, "includeObject") ?? "";
            if (include is not ("" or "None" or "Metadata" or "Object"))
                throw ApiException.BadRequest($"unrecognized includeObject value: \"{include}\"");
            return new TableFormat(type, version, $"meta.k8s.io/{v}", include.Length == 0 ? "Metadata" : include);
        }
        return null;
    }

    public JsonObject Build(IEnumerable<JsonObject> objects, string? resourceVersion, string? continueToken, bool withColumns = true)
    {
        var now = DateTimeOffset.UtcNow;
        var metadata = new JsonObject();
        if (resourceVersion is not null) metadata["resourceVersion"] = resourceVersion;
        if (continueToken is not null) metadata["continue"] = continueToken;
        var table = new JsonObject
        {
            ["kind"] = "Table",
            ["apiVersion"] = _apiVersion,
            ["metadata"] = metadata,
        };
        if (withColumns) table["columnDefinitions"] = new JsonArray(_columns.Select(c => (JsonNode)c.Definition()).ToArray());
        table["rows"] = new JsonArray(objects.Select(o => (JsonNode)Row(o, now)).ToArray());
        return table;
    }

    private JsonObject Row(JsonObject obj, DateTimeOffset now)
    {
        var row = new JsonObject { ["cells"] = new JsonArray(_columns.Select(c => c.Cell(obj, now)).ToArray()) };
        switch (_include)
        {
            case "Object":
                row["object"] = HttpIo.Present(obj, _type, _version).DeepClone();
                break;
            case "Metadata":
                row["object"] = new JsonObject
                {
                    ["kind"] = "PartialObjectMetadata",
                    ["apiVersion"] = "meta.k8s.io/v1",
                    ["metadata"] = obj["metadata"]?.DeepClone(),
                };
                break;
        }
        return row;
    }
}
