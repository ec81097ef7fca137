using System.Text;
using System.Text.Json.Nodes;
using KubeEmulator.Api;
using KubeEmulator.Controller;
using KubeEmulator.Json;
using KubeEmulator.Patching;
using KubeEmulator.Resources;
using KubeEmulator.Selectors;
using KubeEmulator.Store;
using KubeEmulator.Tables;
using KubeEmulator.Validation;

namespace KubeEmulator.Http;

/// <summary>The REST verbs on resource URLs: get, list, watch, create, update, patch, delete, deletecollection.</summary>
internal sealed class ResourceEndpoints(ResourceStore store, ResourceRegistry registry, WatchStreamer watches, PodLogs podLogs, Discovery discovery)
{

    /// <summary>Built-in kinds that answer DELETE with the deleted object rather than a Status (as the real registries do).</summary>
    private static readonly HashSet<string> DeleteReturnsObject = ["Pod", "Service"];

    private readonly ScaleSubresource _scale = new(store);

    public void Map(WebApplication app)
    {
        app.Map("/api", ctx => Guard(ctx, () => HttpIo.WriteJsonAsync(ctx, 200, discovery.CoreVersions(ctx))));
        app.Map("/apis", ctx => Guard(ctx, () => HttpIo.WriteJsonAsync(ctx, 200, discovery.Groups())));
        app.Map("/api/{version}/{**rest}", ctx => Guard(ctx, () =>
            Dispatch(ctx, "", (string)ctx.Request.RouteValues["version"]!, ctx.Request.RouteValues["rest"] as string)));
        app.Map("/apis/{group}/{**rest}", ctx => Guard(ctx, () =>
        {
            var group = (string)ctx.Request.RouteValues["group"]!;
            var rest = (ctx.Request.RouteValues["rest"] as string ?? "").Split('/', StringSplitOptions.RemoveEmptyEntries);
            if (rest.Length == 0) return discovery.Group(group) is { } g ? HttpIo.WriteJsonAsync(ctx, 200, g) : throw ApiException.NotFoundPath();
            return Dispatch(ctx, group, rest[0], string.Join('/', rest[1..]));
        }));
    }

    private static async Task Guard(HttpContext ctx, Func<Task> handler)
    {
        try
        {
            await handler();
        }
        catch (ApiException e) when (!ctx.Response.HasStarted)
        {
            await HttpIo.WriteStatusAsync(ctx, e);
        }
    }

    private Task Dispatch(HttpContext ctx, string group, string version, string? restPath)
    {
        var rest = (restPath ?? "").Split('/', StringSplitOptions.RemoveEmptyEntries);
        var path = ApiPath.Parse(registry, group, version, rest);
        if (path is null)
            return discovery.Resources(group, version) is { } list ? HttpIo.WriteJsonAsync(ctx, 200, list) : throw ApiException.NotFoundPath();
        var method = ctx.Request.Method;
        return (path.IsCollection, method) switch
        {
            (true, "GET") when QueryParams.Bool(ctx.Request, "watch") => watches.StreamAsync(ctx, path),
            (true, "GET") => ListAsync(ctx, path),
            (true, "POST") => CreateAsync(ctx, path),
            (true, "DELETE") => DeleteCollectionAsync(ctx, path),
            (false, "GET") when path.Subresource == "log" => podLogs.WriteAsync(ctx, store.Get(path.Type, path.Namespace, path.Name!)),
            (false, "GET") when path.Subresource == "scale" => _scale.ReadAsync(ctx, path),
            (false, "PUT") when path.Subresource == "scale" => _scale.ReplaceAsync(ctx, path),
            (false, "PATCH") when path.Subresource == "scale" => _scale.PatchAsync(ctx, path, PatchMediaType(ctx, [PatchTypes.Json, PatchTypes.Merge, PatchTypes.StrategicMerge])),
            (false, "GET") => ReadAsync(ctx, path),
            (false, "PUT") => ReplaceAsync(ctx, path),
            (false, "PATCH") => PatchAsync(ctx, path),
            (false, "DELETE") when path.Subresource is null => DeleteAsync(ctx, path),
            _ => throw ApiException.MethodNotAllowed($"the server does not allow this method on the requested resource"),
        };
    }

    private Task ReadAsync(HttpContext ctx, ApiPath path)
    {
        var table = TableFormat.Negotiate(ctx.Request, path.Type, path.Version);
        var obj = store.Get(path.Type, path.Namespace, path.Name!);
        return table is null
            ? HttpIo.WriteJsonAsync(ctx, 200, HttpIo.Present(obj, path.Type, path.Version))
            : HttpIo.WriteJsonAsync(ctx, 200, table.Build([obj], JsonTree.Str(obj["metadata"]?["resourceVersion"]), null));
    }

    private Task ListAsync(HttpContext ctx, ApiPath path)
    {
        var table = TableFormat.Negotiate(ctx.Request, path.Type, path.Version);
        var query = ctx.Request.Query;
        var labels = LabelSelector.Parse(query["labelSelector"]);
        var fields = FieldSelector.Parse(query["fieldSelector"], path.Type);
        var limit = QueryParams.Int64(ctx.Request, "limit") is > 0 and var l ? (int)Math.Min(l, int.MaxValue) : 0;
        var token = ContinueToken.Decode(query["continue"]);
        if (token is not null && QueryParams.String(ctx.Request, "resourceVersion") is { Length: > 0 } and not "0")
            throw ApiException.BadRequest("specifying resource version is not allowed when using continue");
        var page = store.List(path.Type, path.Namespace, o => labels.Matches(o) && fields.Matches(o), limit, token?.After);
        var listRv = token?.ResourceVersion ?? page.ResourceVersion;
        var next = page.ContinueAfter is null ? null : ContinueToken.Encode(listRv, page.ContinueAfter);
        return table is null
            ? HttpIo.WriteListAsync(ctx, path.Type, path.Version, page.Items, listRv, next)
            : HttpIo.WriteJsonAsync(ctx, 200, table.Build(page.Items, listRv.ToString(), next));
    }

    private async Task CreateAsync(HttpContext ctx, ApiPath path)
    {
        if (path.Subresource is not null) throw ApiException.MethodNotAllowed("the server does not allow this method on the requested resource");
        var options = WriteOptions.Parse(ctx.Request, "CreateOptions");
        var body = await HttpIo.ReadObjectAsync(ctx.Request);
        CheckTypeMeta(body, path);
        CheckNamespace(body, path);
        options.CheckUnknownFields(ctx, path.Type, path.Version, body);
        if (options.FieldManager is { } manager) ManagedFields.RecordUpdate(path.Type, path.Type.ApiVersion(path.Version), null, body, manager);
        var created = store.Create(path.Type, path.Namespace, body, options.DryRun);
        await HttpIo.WriteJsonAsync(ctx, 201, HttpIo.Present(created, path.Type, path.Version));
    }

    private async Task ReplaceAsync(HttpContext ctx, ApiPath path)
    {
        var options = WriteOptions.Parse(ctx.Request, "UpdateOptions");
        var body = await HttpIo.ReadObjectAsync(ctx.Request);
        CheckTypeMeta(body, path);
        CheckNamespace(body, path);
        options.CheckUnknownFields(ctx, path.Type, path.Version, body);
        var bodyName = JsonTree.Str(body["metadata"]?["name"]);
        if (bodyName != path.Name)
            throw ApiException.BadRequest($"the name of the object ({bodyName}) does not match the name on the URL ({path.Name})");
        var scope = path.Subresource == "status" ? WriteScope.Status : WriteScope.Main;
        // Custom resources reject unconditional updates (AllowUnconditionalUpdate is false in their strategy).
        var updated = store.Update(path.Type, path.Namespace, path.Name!, current =>
            {
                TrackUpdate(ctx, options, path, scope, current, body);
                return body;
            }, scope, path.Type.IsCustom, options.DryRun);
        await HttpIo.WriteJsonAsync(ctx, 200, HttpIo.Present(updated, path.Type, path.Version));
    }

    private async Task PatchAsync(HttpContext ctx, ApiPath path)
    {
        var mediaType = PatchMediaType(ctx, PatchTypes.AcceptedFor(path.Type));

        var options = WriteOptions.Parse(ctx.Request, "PatchOptions", isApply: mediaType == PatchTypes.Apply);
        var patch = await HttpIo.ReadBodyAsync(ctx.Request);
        var scope = path.Subresource == "status" ? WriteScope.Status : WriteScope.Main;

        if (mediaType == PatchTypes.Apply)
        {
            if (patch is not JsonObject applied) throw ApiException.BadRequest("apply patches must be objects");
            // Server-side apply refuses fields the schema does not declare whatever fieldValidation says.
            if (UnknownFields.Of(path.Type, path.Version, applied) is [var first, ..])
                throw ApiException.BadRequest(
                    $"failed to create typed patch object ({path.Type.Group}/{path.Version}, Kind={path.Type.Kind}): .{first}: field not declared in schema");
            // Server-side apply is approximated as a merge of the applied configuration; a missing object is created.
            if (store.TryGet(path.Type, path.Namespace, path.Name!) is null && scope == WriteScope.Main)
            {
                CheckTypeMeta(applied, path);
                JsonTree.Obj(applied, "metadata")["name"] = path.Name;
                ManagedFields.Write(applied, [new ManagedFields.Entry(options.FieldManager!, "Apply", path.Type.ApiVersion(path.Version), null, ManagedFields.Leaves(path.Type, applied))]);
                var created = store.Create(path.Type, path.Namespace, applied, options.DryRun);
                await HttpIo.WriteJsonAsync(ctx, 201, HttpIo.Present(created, path.Type, path.Version));
                return;
            }
        }

        var updated = store.Update(path.Type, path.Namespace, path.Name!, current =>
            {
                if (mediaType == PatchTypes.Apply && scope == WriteScope.Main)
                {
                    var applied = (JsonObject)patch!;
                    CheckTypeMeta(applied, path);
                    return ManagedFields.Apply(path.Type, path.Type.ApiVersion(path.Version), current, applied, options.FieldManager!, options.Force,
                        (target, config) => path.Type.OpenApiDefinition is { } definition
                            ? StrategicMergePatch.Apply(target, config, definition)
                            : (JsonObject)MergePatch.Apply(target, config)!);
                }
                // Merge and JSON patches edit the object they are given; ownership compares against the original.
                var before = (JsonObject)current.DeepClone();
                var next = PatchTypes.ApplyTo(current, mediaType, patch, path.Type.OpenApiDefinition,
                    new JsonObject { ["name"] = path.Name, ["group"] = path.Type.Group, ["kind"] = path.Type.Kind });
                if (mediaType != PatchTypes.Apply) options.CheckUnknownFields(ctx, path.Type, path.Version, next);
                TrackUpdate(ctx, options, path, scope, before, next);
                return next;
            },
            scope, requireResourceVersion: false, options.DryRun);
        await HttpIo.WriteJsonAsync(ctx, 200, HttpIo.Present(updated, path.Type, path.Version));
    }

    /// <summary>
    /// Records what a non-apply write changed as its manager's (the fieldManager parameter, else the client's name from
    /// its User-Agent, as the apiserver derives it) once the object's fields are tracked at all.
    /// </summary>
    private static void TrackUpdate(HttpContext ctx, WriteOptions options, ApiPath path, WriteScope scope, JsonObject current, JsonObject next)
    {
        if (scope != WriteScope.Main) return;
        if (options.FieldManager is null && current["metadata"]?["managedFields"] is not JsonArray { Count: > 0 }) return;
        var agent = ctx.Request.Headers.UserAgent.ToString().Split('/')[0];
        var manager = options.FieldManager ?? (agent.Length > 0 ? agent : "unknown");
        ManagedFields.RecordUpdate(path.Type, path.Type.ApiVersion(path.Version), current, next, manager);
    }

    private static string PatchMediaType(HttpContext ctx, string[] accepted)
    {
        var mediaType = (ctx.Request.ContentType ?? "").Split(';')[0].Trim().ToLowerInvariant();
        return accepted.Contains(mediaType) ? mediaType : throw ApiException.UnsupportedMediaType(accepted);
    }

    private async Task DeleteAsync(HttpContext ctx, ApiPath path)
    {
        var (obj, removed) = store.Delete(path.Type, path.Namespace, path.Name!, WriteOptions.Parse(ctx.Request, "DeleteOptions").DryRun);
        if (!removed || (DeleteReturnsObject.Contains(path.Type.Kind) && !path.Type.IsCustom) || path.Type == registry.Namespaces)
        {
            var shown = obj;
            if (path.Type == registry.Namespaces && removed)
            {
                // Namespace deletion is reported the way the namespace controller starts it: Terminating.
                shown = (JsonObject)obj.DeepClone();
                shown["metadata"]!["deletionTimestamp"] ??= JsonTree.Now();
                JsonTree.Obj(shown, "status")["phase"] = "Terminating";
            }
            await HttpIo.WriteJsonAsync(ctx, 200, HttpIo.Present(shown, path.Type, path.Version));
            return;
        }
        await HttpIo.WriteJsonAsync(ctx, 200, new JsonObject
        {
            ["kind"] = "Status",
            ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject(),
            ["status"] = "Success",
            ["details"] = new JsonObject
            {
                ["name"] = path.Name,
                ["group"] = path.Type.Group,
                ["kind"] = path.Type.Plural,
                ["uid"] = obj["metadata"]?["uid"]?.DeepClone(),
            },
        });
    }

    private async Task DeleteCollectionAsync(HttpContext ctx, ApiPath path)
    {
        var labels = LabelSelector.Parse(ctx.Request.Query["labelSelector"]);
        var fields = FieldSelector.Parse(ctx.Request.Query["fieldSelector"], path.Type);
        var dryRun = WriteOptions.Parse(ctx.Request, "DeleteOptions").DryRun;
        var page = store.List(path.Type, path.Namespace, o => labels.Matches(o) && fields.Matches(o));
        var deleted = new List<JsonObject>();
        foreach (var item in page.Items)
        {
            var ns = path.Type.Namespaced ? JsonTree.Str(item["metadata"]?["namespace"]) : null;
            try
            {
                deleted.Add(store.Delete(path.Type, ns, JsonTree.Str(item["metadata"]?["name"])!, dryRun).Object);
            }
            catch (ApiException e) when (e.Code == 404)
            {
                // Deleted concurrently (or by garbage collection of an earlier item): nothing left to do.
            }
        }
        await HttpIo.WriteListAsync(ctx, path.Type, path.Version, deleted, store.ResourceVersion, null);
    }

    private static void CheckTypeMeta(JsonObject body, ApiPath path)
    {
        var expected = path.Type.ApiVersion(path.Version);
        var apiVersion = JsonTree.Str(body["apiVersion"]);
        var kind = JsonTree.Str(body["kind"]);
        if (path.Type.IsCustom && string.IsNullOrEmpty(kind))
            throw ApiException.BadRequest($"Object 'Kind' is missing in '{Truncate(body.ToJsonString())}'");
        if (!string.IsNullOrEmpty(apiVersion) && apiVersion != expected)
            throw ApiException.BadRequest($"the API version in the data ({apiVersion}) does not match the expected API version ({expected})");
        if (!string.IsNullOrEmpty(kind) && kind != path.Type.Kind)
            throw ApiException.BadRequest($"the kind in the data ({kind}) does not match the expected kind ({path.Type.Kind})");
        body["apiVersion"] = expected;
        body["kind"] = path.Type.Kind;
    }

    private static void CheckNamespace(JsonObject body, ApiPath path)
    {
        var bodyNs = JsonTree.Str(body["metadata"]?["namespace"]);
        if (path.Namespace is not null && !string.IsNullOrEmpty(bodyNs) && bodyNs != path.Namespace)
            throw ApiException.BadRequest("the namespace of the provided object does not match the namespace sent on the request");
    }

    private static string Truncate(string text) => text.Length <= 200 ? text : text[..200] + "...";

    /// <summary>Opaque continue tokens carrying the list's resourceVersion and the last key returned.</summary>
    private sealed record ContinueToken(long ResourceVersion, string After)
    {
        public static string Encode(long rv, string after) =>
            Convert.ToBase64String(Encoding.UTF8.GetBytes(new JsonObject { ["rv"] = rv, ["start"] = after }.ToJsonString()));

        public static ContinueToken? Decode(string? token)
        {
            if (string.IsNullOrEmpty(token)) return null;
            var invalid = ApiException.BadRequest("continue key is not valid: invalid continue token");
            JsonNode? node;
            try
            {
                node = JsonNode.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(token)));
            }
            catch (Exception e) when (e is FormatException or System.Text.Json.JsonException)
            {
                throw invalid;
            }
            return JsonTree.Long(node?["rv"]) is { } rv && JsonTree.Str(node?["start"]) is { } start
                ? new ContinueToken(rv, start)
                : throw invalid;
        }
    }
}
