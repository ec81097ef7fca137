using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Inference.ApiHost;
using Inference.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Inference.Api.Tests;

/// <summary>The real API host (co-hosting a silo, grain state in Azurite) on a random loopback port, against the
/// Kubernetes API emulator; tests talk to it over HTTP only.</summary>
public class ApiFixture : IAsyncLifetime
{
    private WebApplication? _app;

    public EmulatorHost Emulator { get; private set; } = null!;

    public Tokens Tokens { get; } = Tokens.WithRandomSecret();

    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>The secret API keys are signed with; kept across restarts, as a deployment keeps it.</summary>
    public string KeySigningSecret { get; } = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(48));

    /// <summary>The origin this host allows through CORS_ORIGINS; null for none.</summary>
    public virtual string? CorsOrigin => "https://console.example.test";

    /// <summary>Tables of this box; a restarted host with the same prefix sees the same state.</summary>
    public string TablePrefix { get; } = TestEnvironment.UniqueTablePrefix();

    /// <summary>The host's services, for tests that look inside (e.g. how full a socket's queue got).</summary>
    public IServiceProvider Services => _app!.Services;

    /// <summary>Where the host listens: a random loopback port unless a derived fixture says otherwise.</summary>
    protected virtual string ListenUrl => "http://127.0.0.1:0";

    /// <summary>Settings a derived fixture adds or overrides.</summary>
    protected virtual void Configure(IDictionary<string, string?> settings)
    {
    }
    /// <summary>Services a derived fixture adds (e.g. an exporter that keeps traces for the test to read).</summary>
    protected virtual void ConfigureBuilder(WebApplicationBuilder builder)
    {
    }

    /// <summary>Emulator settings a derived fixture changes (e.g. a data file to start from).</summary>
    protected virtual void ConfigureEmulator(KubeEmulator.EmulatorOptions options)
    {
    }

    public CapturedLogs Logs { get; } = new();

    /// <summary>The grain calls traced requests cause (see <see cref="GrainCallLog"/>).</summary>
    public GrainCallLog GrainCalls { get; } = new();

    public async Task InitializeAsync()
    {
        Emulator = await EmulatorHost.StartAsync(ConfigureEmulator);
        await File.WriteAllTextAsync(JwksPath, Tokens.ExternalJwks());
        await StartAppAsync();
    }

    /// <summary>Stops the API host (and its silo) and starts a new one on the same storage: a box restart.</summary>
    public async Task RestartAsync()
    {
        await StopAppAsync();
        await StartAppAsync();
    }

    /// <summary>The JWKS file the host reads the external identity system's keys from.</summary>
    public string JwksPath => Path.Combine(Path.GetDirectoryName(Emulator.KubeconfigPath)!, "jwks.json");

    private async Task StartAppAsync()
    {
        _app = ApiHostApp.Build([], builder =>
        {
            builder.WebHost.UseUrls(ListenUrl);
            var settings = new Dictionary<string, string?>
            {
                ["KUBECONFIG"] = Emulator.KubeconfigPath,
                ["JWT_SECRET"] = Tokens.Secret,
                ["KeyValidation:SigningKeys:k1"] = KeySigningSecret,
                ["Auth:Jwks"] = JwksPath,
                ["ConnectionStrings:Storage"] = TestEnvironment.StorageConnectionString,
                ["Cluster:TablePrefix"] = TablePrefix,
                ["Cluster:SiloPort"] = TestEnvironment.FreePort().ToString(),
                ["Cluster:GatewayPort"] = TestEnvironment.FreePort().ToString(),
                ["Logging:LogLevel:Default"] = "Warning",
                ["CORS_ORIGINS"] = CorsOrigin,
                ["Predict:Timeout"] = "00:00:05",
                // The API's own limit has its fixture (RateLimitFixture); here it must not get in the way.
                ["RATE_LIMIT_REQUESTS"] = "100000",
                ["RateLimit:Burst"] = "100000",
                // Likewise the audit trail's per-caller bound (AuditBoundsTests has it): the tests of this collection
                // share a few tenant users, and how many records they write in one minute depends on test order.
                ["Audit:MaxRecordsPerCallerPerMinute"] = "100000",
                // Lets key-validation tests act as distinct sources through X-Forwarded-For.
                ["Proxies:Trusted:0"] = "127.0.0.1",
                // A console build of the test's own (ConsoleFilesTests), so the tests do not depend on src/Console/dist.
                ["Console:Path"] = ConsoleFilesTests.CreateBuild(),
            };
            Configure(settings);
            builder.Configuration.AddInMemoryCollection(settings);
            builder.Logging.AddProvider(Logs);
            builder.Services.AddSingleton<IIncomingGrainCallFilter>(GrainCalls);
            builder.Services.AddSingleton<Microsoft.AspNetCore.Hosting.IStartupFilter, GrainCallLog.Middleware>();
            builder.Logging.AddFilter<CapturedLogs>(null, Microsoft.Extensions.Logging.LogLevel.Information);
            ConfigureBuilder(builder);
        });
        await _app.StartAsync();
        var address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        BaseAddress = new Uri(address);
    }

    private async Task StopAppAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
            _app = null;
        }
    }

    public async Task DisposeAsync()
    {
        await StopAppAsync();
        await Emulator.DisposeAsync();
    }

    public HttpClient Client(string? token = null)
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        return client;
    }

    public HttpClient Tenant(string tenant) => Client(Tokens.Tenant(tenant));

    public HttpClient Admin() => Client(Tokens.Admin());
}

[CollectionDefinition(Name)]
public sealed class ApiCollection : ICollectionFixture<ApiFixture>
{
    public const string Name = "api";
}

public static class HttpExtensions
{
    public static async Task<JsonNode> Json(this HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        return JsonNode.Parse(text) ?? throw new InvalidOperationException("empty body");
    }

    public static Task<HttpResponseMessage> PostJson(this HttpClient client, string url, object body) =>
        client.PostAsJsonAsync(url, body);

    public static Task<HttpResponseMessage> PutJson(this HttpClient client, string url, object body) =>
        client.PutAsJsonAsync(url, body);

    public static Task<HttpResponseMessage> PostRaw(this HttpClient client, string url, string body, string contentType = "application/json") =>
        client.PostAsync(url, new StringContent(body, System.Text.Encoding.UTF8, contentType));

    /// <summary>Asserts the status and the contract's error shape, and returns the body.</summary>
    public static async Task<JsonNode> AssertError(this HttpResponseMessage response, System.Net.HttpStatusCode status, string? errorContains = null)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"expected {(int)status}, got {(int)response.StatusCode}: {body}");
        var json = JsonNode.Parse(body)!;
        Assert.Equal(JsonValueKind.String, json["error"]!.GetValueKind());
        if (errorContains is not null)
        {
            var text = json["error"]!.GetValue<string>() + " " + json["details"]?.GetValue<string>();
            Assert.Contains(errorContains, text, StringComparison.OrdinalIgnoreCase);
        }
        return json;
    }

    public static async Task<JsonNode> AssertOk(this HttpResponseMessage response, System.Net.HttpStatusCode status = System.Net.HttpStatusCode.OK)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"expected {(int)status}, got {(int)response.StatusCode}: {body}");
        return JsonNode.Parse(body)!;
    }
}
