using System.Text.RegularExpressions;
using Microsoft.Extensions.FileProviders;

namespace Inference.ApiHost.WebConsole;

/// <summary>Serves the web console (src/Console, built by Vite) at <c>/</c>: <c>index.html</c> never cached and
/// under a strict Content-Security-Policy, the content-hashed files under <c>/assets/</c> cached for a year as
/// immutable. The headers are set on these responses only, so other routes (the API, /docs, /dashboard) keep their own.
/// Nothing is served when the console was not built (the API works without it).</summary>
public static partial class ConsoleFiles
{
    public const string Section = "Console";

    /// <summary>The folder beside the binaries the console is served from by default (the ApiHost project copies
    /// src/Console/dist there; the Dockerfile copies its console stage's build there).</summary>
    public const string Folder = "console";

    /// <summary>No inline script or style, no plugin, no framing; XHR/fetch to this origin and the WebSocket of /ws on
    /// it (named explicitly as ws/wss for browsers that do not count ws: as 'self').</summary>
    private const string PolicyWithoutSockets =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'; connect-src 'self'";

    /// <summary>Where the built console is: <c>Console:Path</c>, else <c>console/</c> beside the binaries (the
    /// ApiHost project copies src/Console/dist there at build).</summary>
    public static string? Root(IConfiguration configuration)
    {
        var root = configuration[$"{Section}:Path"] is { Length: > 0 } path ? path : Path.Combine(AppContext.BaseDirectory, Folder);
        return File.Exists(Path.Combine(root, "index.html")) ? Path.GetFullPath(root) : null;
    }

    public static WebApplication UseConsoleFiles(this WebApplication app)
    {
        if (Root(app.Configuration) is not { } root)
        {
            return app;
        }
        var assets = Path.Combine(root, "assets");
        if (Directory.Exists(assets))
        {
            // Scoped to /assets: no other request pays for a file lookup.
            app.UseStaticFiles(new StaticFileOptions
            {
                RequestPath = "/assets",
                FileProvider = new PhysicalFileProvider(assets),
                OnPrepareResponse = c =>
                {
                    c.Context.Response.Headers.CacheControl = "public, max-age=31536000, immutable";
                    c.Context.Response.Headers.XContentTypeOptions = "nosniff";
                },
            });
        }
        var index = Path.Combine(root, "index.html");
        app.MapMethods("/", [HttpMethods.Get, HttpMethods.Head], async context =>
        {
            var headers = context.Response.Headers;
            headers.CacheControl = "no-store";
            headers.ContentSecurityPolicy = Policy(context.Request.Host);
            headers.XContentTypeOptions = "nosniff";
            headers.XFrameOptions = "DENY";
            headers["Referrer-Policy"] = "no-referrer";
            context.Response.ContentType = "text/html; charset=utf-8";
            // Read per request: small, and a rebuilt console is served without a restart.
            await context.Response.SendFileAsync(index);
        }).AllowAnonymous();
        return app;
    }

    /// <summary>The console's policy for a request to <paramref name="host"/>; a Host header that is not a plain
    /// host[:port] gets no socket sources rather than having its text copied into a header.</summary>
    public static string Policy(HostString host) =>
        host.HasValue && PlainHost().IsMatch(host.Value)
            ? $"{PolicyWithoutSockets} ws://{host.Value} wss://{host.Value}"
            : PolicyWithoutSockets;

    [GeneratedRegex(@"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$")]
    private static partial Regex PlainHost();
}
