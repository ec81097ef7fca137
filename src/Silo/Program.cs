using Inference.Silo;

// A silo process for cluster mode: it hosts grains and nothing else; API hosts reach it as Orleans clients.
// Content root = the binaries' folder, not the working directory (see ApiHostApp.Build).
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.UseOrleans(silo => silo.ConfigureInferenceSilo(builder.Configuration));
var app = builder.Build();
app.MapGet("/health", () => Results.Ok(new { status = "ok" }));
app.Run();
