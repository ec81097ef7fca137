using System.Text.Json;
using System.Text.Json.Nodes;
using KubeEmulator.Api;
using KubeEmulator.Selectors;
using KubeEmulator.Store;
using KubeEmulator.Tables;
using KubeEmulator.Json;

namespace KubeEmulator.Http;

/// <summary>
/// Serves <c>?watch=true</c>: a chunked stream of <c>{"type":...,"object":...}</c> lines, with selector-aware event
/// translation, optional BOOKMARKs, <c>timeoutSeconds</c>, and the in-stream 410 ERROR of kube-apiserver's cacher.
/// </summary>
internal sealed class WatchStreamer(ResourceStore store, EmulatorOptions options, IHostApplicationLifetime lifetime)
{
    public async Task StreamAsync(HttpContext ctx, ApiPath path)
    {
        var query = ctx.Request.Query;
        var labels = LabelSelector.Parse(query["labelSelector"]);
        var fields = FieldSelector.Parse(query["fieldSelector"], path.Type);
        var bookmarks = QueryParams.Bool(ctx.Request, "allowWatchBookmarks");
        var timeout = QueryParams.Int64(ctx.Request, "timeoutSeconds");
        var table = TableFormat.Negotiate(ctx.Request, path.Type, path.Version);
        var firstTable = true;
        // kubectl get --watch asks for Tables: each event carries a one-row Table, the first with the columns.
        JsonObject Shown(JsonObject obj)
        {
            if (table is null) return HttpIo.Present(obj, path.Type, path.Version);
            var shown = table.Build([obj], JsonTree.Str(obj["metadata"]?["resourceVersion"]), null, withColumns: firstTable);
            firstTable = false;
            return shown;
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, lifetime.ApplicationStopping);
        if (timeout > 0) cts.CancelAfter(TimeSpan.FromSeconds(Math.Min(timeout.Value, int.MaxValue / 1000)));
        var ct = cts.Token;

        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = "application/json";
        WatchSubscription subscription;
        try
        {
            subscription = store.OpenWatch(path.Type, path.Namespace, query["resourceVersion"]);
        }
        catch (ApiException e) when (e.Code == 410)
        {
            // "errors must fail with a watch event of type ERROR, rather than a directly returned error" (cacher.go).
            await WriteEventAsync(ctx, "ERROR", e.ToStatus(), CancellationToken.None);
            return;
        }

        try
        {
            await ctx.Response.StartAsync(ct);
            bool Selected(JsonObject o) => labels.Matches(o) && fields.Matches(o);
            var lastRv = subscription.StartResourceVersion;
            foreach (var e in subscription.Initial)
                if (Translate(e, Selected) is { } initial)
                    await WriteEventAsync(ctx, initial.Type, Shown(initial.Object), ct);

            Task<bool>? pending = null;
            while (!ct.IsCancellationRequested)
            {
                pending ??= subscription.Reader.WaitToReadAsync(ct).AsTask();
                if (bookmarks && await Task.WhenAny(pending, Task.Delay(options.BookmarkInterval, ct)) != pending)
                {
                    await WriteEventAsync(ctx, "BOOKMARK", Bookmark(path, lastRv), ct);
                    continue;
                }
                if (!await pending)
                {
                    if (subscription.Expired)
                        await WriteEventAsync(ctx, "ERROR", ApiException.Expired(lastRv, store.CompactedResourceVersion).ToStatus(), ct);
                    break;
                }
                pending = null;
                while (subscription.Reader.TryRead(out var e))
                {
                    lastRv = e.ResourceVersion;
                    if (Translate(e, Selected) is { } live)
                        await WriteEventAsync(ctx, live.Type, Shown(live.Object), ct);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // timeoutSeconds elapsed, the client went away, or the emulator is stopping: end the stream cleanly.
        }
        finally
        {
            store.CloseWatch(subscription);
        }
    }

    /// <summary>
    /// Applies the selector to an event: an object that starts matching is ADDED, one that stops matching is
    /// DELETED, and events for objects that never matched are dropped.
    /// </summary>
    private static (string Type, JsonObject Object)? Translate(WatchEvent e, Func<JsonObject, bool> selected)
    {
        var now = selected(e.Object);
        if (e.Type != "MODIFIED") return now ? (e.Type, e.Object) : null;
        var before = e.Previous is null ? now : selected(e.Previous);
        return (before, now) switch
        {
            (true, true) => ("MODIFIED", e.Object),
            (false, true) => ("ADDED", e.Object),
            (true, false) => ("DELETED", e.Object),
            _ => null,
        };
    }

    private static JsonObject Bookmark(ApiPath path, long rv) => new()
    {
        ["kind"] = path.Type.Kind,
        ["apiVersion"] = path.Type.ApiVersion(path.Version),
        ["metadata"] = new JsonObject { ["resourceVersion"] = rv.ToString() },
    };

    private static async Task WriteEventAsync(HttpContext ctx, string type, JsonObject obj, CancellationToken ct)
    {
        var buffer = new MemoryStream();
        await using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("type", type);
            writer.WritePropertyName("object");
            obj.WriteTo(writer);
            writer.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        await ctx.Response.Body.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), ct);
        await ctx.Response.Body.FlushAsync(ct);
    }
}
