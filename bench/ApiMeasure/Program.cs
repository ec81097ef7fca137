// dotnet run -c Release --project bench/ApiMeasure   (TEST_STORAGE_CONNECTION_STRING = an Azurite to use)
// Bounded: a few hundred sequential requests against 127.0.0.1 only.
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Inference.ApiHost;
using Inference.TestSupport;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

await using var emulator = await EmulatorHost.StartAsync();
var tokens = Tokens.WithRandomSecret();
var app = ApiHostApp.Build([], builder =>
{
    builder.WebHost.UseUrls("http://127.0.0.1:0");
    builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
    {
        ["KUBECONFIG"] = emulator.KubeconfigPath,
        ["JWT_SECRET"] = tokens.Secret,
        ["ConnectionStrings:Storage"] = TestEnvironment.StorageConnectionString,
        ["Cluster:TablePrefix"] = TestEnvironment.UniqueTablePrefix(),
        ["Cluster:SiloPort"] = TestEnvironment.FreePort().ToString(),
        ["Cluster:GatewayPort"] = TestEnvironment.FreePort().ToString(),
        ["Logging:LogLevel:Default"] = "Warning",
        ["RATE_LIMIT_REQUESTS"] = "100000",
        ["RateLimit:Burst"] = "100000",
    });
});
await app.StartAsync();
var baseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
using var http = new HttpClient { BaseAddress = baseAddress };
http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", tokens.Tenant("tenant-a"));

const string name = "measure";
(await http.PostAsJsonAsync("/api/models", new { name, framework = "sklearn", storageUri = "s3://b/m" })).EnsureSuccessStatusCode();
var model = await TestEnvironment.Eventually(async () => JsonNode.Parse(await http.GetStringAsync($"/api/models/{name}"))!,
    m => m["ready"]!.GetValue<bool>());
var direct = model["url"]!.GetValue<string>();
var input = new { instances = new[] { new { feature1 = 1.0, feature2 = 2.0 } } };

async Task<List<double>> Time(int count, Func<Task> call)
{
    for (var i = 0; i < 20; i++)
    {
        await call(); // warm-up
    }
    var samples = new List<double>(count);
    for (var i = 0; i < count; i++)
    {
        var sw = Stopwatch.StartNew();
        await call();
        samples.Add(sw.Elapsed.TotalMilliseconds);
    }
    return samples;
}

void Report(string what, List<double> samples)
{
    samples.Sort();
    Console.WriteLine($"{what,-48} n={samples.Count,4}  p50={samples[samples.Count / 2],7:0.00} ms  p99={samples[(int)(samples.Count * 0.99)],7:0.00} ms");
}

using var plain = new HttpClient();
Report("GET /health (no auth, no limiter)", await Time(500, async () => (await plain.GetAsync(new Uri(baseAddress, "/health"))).EnsureSuccessStatusCode()));
Report("GET /api/models/{name} (JWT + limiter grain)", await Time(500, async () => (await http.GetAsync($"/api/models/{name}")).EnsureSuccessStatusCode()));
Report("POST model :predict directly (emulator)", await Time(300, async () => (await plain.PostAsJsonAsync(direct, input)).EnsureSuccessStatusCode()));
Report("POST /api/models/{name}/predict (proxy)", await Time(300, async () => (await http.PostAsJsonAsync($"/api/models/{name}/predict", new { inputData = input })).EnsureSuccessStatusCode()));

await using (var socket = await EventSocketClient.ConnectAsync(baseAddress, tokens.Tenant("tenant-a"), $"model={name}"))
{
    var replicas = 1;
    Report("PUT model -> model.updated on /ws", await Time(50, async () =>
    {
        replicas = replicas % 5 + 2;
        (await http.PutAsJsonAsync($"/api/models/{name}", new { maxReplicas = replicas })).EnsureSuccessStatusCode();
        await socket.WaitForAsync(m => m["type"]!.GetValue<string>() == "model.updated");
    }));
}

await app.StopAsync();
