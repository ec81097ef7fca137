// The bare Kestrel endpoint key validation is compared with: same host settings, no auth, no grain, a tiny JSON.
// BASELINE_SILO=box co-hosts an idle silo configured exactly as the box's (grains, storage, streams, cluster watch;
// needs the box's environment: storage connection string, KUBECONFIG) without ever calling it, to measure what
// merely carrying a silo costs the endpoint's latency (bench/RESULTS.md, session 3).
// BASELINE_HEADERS=box answers with the headers and body size of a real validation (rate-limit headers, X-Tenant,
// X-Model, Cache-Control), to tell what the answer's size costs from what the box's work costs (session 5).
using System.Runtime.CompilerServices;
using Inference.Silo;

var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
if (Environment.GetEnvironmentVariable("BASELINE_SILO") == "box")
{
    AddIdleSilo(builder);
}
var app = builder.Build();
if (Environment.GetEnvironmentVariable("BASELINE_HEADERS") == "box")
{
    app.MapPost("/api/validate-api-key", (HttpContext context) =>
    {
        var h = context.Response.Headers;
        h["X-Tenant"] = "tenant-a";
        h["X-Model"] = "bench-a";
        h["X-RateLimit-Limit"] = "1000000";
        h["X-RateLimit-Remaining"] = "999999";
        h["X-RateLimit-Reset"] = "60";
        h["RateLimit"] = "limit=1000000, remaining=999999, reset=60";
        h["RateLimit-Policy"] = "1000000;w=60, 2000000000;w=3600";
        h.CacheControl = "no-store";
        return Results.Text("{\"valid\":true,\"tenant\":\"tenant-a\",\"model\":\"bench-a\"}", "application/json; charset=utf-8");
    });
}
else
{
    app.MapPost("/api/validate-api-key", () => Results.Text("{\"valid\":true,\"tenant\":\"tenant-a\",\"model\":\"bench\"}", "application/json"));
}
app.Run();

// Not inlined: without BASELINE_SILO the baseline never loads Orleans.
[MethodImpl(MethodImplOptions.NoInlining)]
static void AddIdleSilo(WebApplicationBuilder builder)
{
    var configuration = builder.Configuration;
    builder.UseOrleans(silo => silo.ConfigureInferenceSilo(configuration));
}
