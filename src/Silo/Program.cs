using Inference.Silo;

// A silo process for cluster mode: it hosts grains and nothing else; API hosts reach it as Orleans clients.
var builder = WebApplication.CreateBuilder(args);
builder.UseOrleans(silo => silo.ConfigureInferenceSilo(builder.Configuration));
var app = builder.Build();
app.MapGet("/health", () => Results.Ok(new { status = "ok" }));
app.Run();
