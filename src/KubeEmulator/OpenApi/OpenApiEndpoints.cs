using System.Text.Json.Nodes;
using KubeEmulator.Api;
using KubeEmulator.Http;

namespace KubeEmulator.OpenApi;

/// <summary>
/// <c>/openapi/v3</c>, <c>/openapi/v3/{api|apis/group}/{version}</c> and <c>/openapi/v2</c>. The v2 document is
/// served as JSON only: a client asking only for the protobuf form (client-go's OpenAPISchema) gets 406, as from a
/// server that lacks it, and the v3 documents are what current kubectl reads.
/// </summary>
internal sealed class OpenApiEndpoints(OpenApiDocuments documents)
{
    public void Map(WebApplication app)
    {
        app.MapGet("/openapi/v3", (HttpContext ctx) => HttpIo.WriteJsonAsync(ctx, 200, documents.V3Index()));
        app.MapGet("/openapi/v3/{**groupVersion}", async (HttpContext ctx, string groupVersion) =>
        {
            if (documents.V3(groupVersion.TrimEnd('/')) is not { } json)
            {
                await HttpIo.WriteStatusAsync(ctx, ApiException.NotFoundPath());
                return;
            }
            await WriteAsync(ctx, json);
        });
        app.MapGet("/openapi/v2", async (HttpContext ctx) =>
        {
            var accept = ctx.Request.Headers.Accept.ToString();
            if (accept.Length > 0 && !accept.Contains("json", StringComparison.OrdinalIgnoreCase) && !accept.Contains("*/*", StringComparison.Ordinal))
            {
                await HttpIo.WriteStatusAsync(ctx, new ApiException(406, "NotAcceptable", $"only application/json is available, not {accept}"));
                return;
            }
            await WriteAsync(ctx, documents.V2());
        });
    }

    private static Task WriteAsync(HttpContext ctx, string json)
    {
        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = "application/json";
        return ctx.Response.WriteAsync(json, ctx.RequestAborted);
    }
}
