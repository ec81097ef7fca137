using Inference.Silo;

if (args is ["certs", var directory, ..])
{
    // `Inference.Silo certs DIR`: the box's cluster CA and node certificate (see ClusterCertificates).
    var written = ClusterCertificates.Ensure(directory, TimeProvider.System);
    Console.WriteLine(written ? $"wrote a new cluster CA and node certificate to {directory}" : $"kept the cluster certificates in {directory}");
    return 0;
}

// A silo process for cluster mode: it hosts grains and nothing else; API hosts reach it as Orleans clients.
// Content root = the binaries' folder, not the working directory (see ApiHostApp.Build).
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.UseOrleans(silo => silo.ConfigureInferenceSilo(builder.Configuration));
builder.Services.AddHealthChecks().AddCheck<SiloReadiness>("orleans-membership", tags: [SiloReadiness.Tag]);
builder.AddInferenceTelemetry("inference-silo");
var app = builder.Build();
app.UseMetricsPort();
app.MapGet("/health", () => Results.Ok(new { status = "ok" }));
app.MapHealthChecks("/ready", new() { Predicate = check => check.Tags.Contains(SiloReadiness.Tag) });
app.Run();
return 0;
