// The bare Kestrel endpoint key validation is compared with: same host settings, no auth, no grain, a tiny JSON.
var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
var app = builder.Build();
app.MapPost("/api/validate-api-key", () => Results.Text("{\"valid\":true,\"tenant\":\"tenant-a\",\"model\":\"bench\"}", "application/json"));
app.Run();
