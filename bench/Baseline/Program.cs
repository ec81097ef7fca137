// The bare Kestrel endpoint key validation is compared with: same host settings, no auth, no grain, a tiny JSON.
// BASELINE_SILO=box co-hosts an idle silo configured exactly as the box's (grains, storage, streams, cluster watch;
// needs the box's environment: storage connection string, KUBECONFIG) without ever calling it, to measure what
// merely carrying a silo costs the endpoint's latency (bench/RESULTS.md, session 3).
using System.Runtime.CompilerServices;
using Inference.Silo;

var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
if (Environment.GetEnvironmentVariable("BASELINE_SILO") == "box")
{
    AddIdleSilo(builder);
}
var app = builder.Build();
app.MapPost("/api/validate-api-key", () => Results.Text("{\"valid\":true,\"tenant\":\"tenant-a\",\"model\":\"bench\"}", "application/json"));
app.Run();

// Not inlined: without BASELINE_SILO the baseline never loads Orleans.
[MethodImpl(MethodImplOptions.NoInlining)]
static void AddIdleSilo(WebApplicationBuilder builder)
{
    var configuration = builder.Configuration;
    builder.UseOrleans(silo => silo.ConfigureInferenceSilo(configuration));
}
