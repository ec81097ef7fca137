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

    public CapturedLogs Logs { get; } = new();

    public async Task InitializeAsync()
    {
        Emulator = await EmulatorHost.StartAsync();
        _app = ApiHostApp.Build([], builder =>
        {
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["KUBECONFIG"] = Emulator.KubeconfigPath,
                ["JWT_SECRET"] = Tokens.Secret,
                ["ConnectionStrings:Storage"] = TestEnvironment.StorageConnectionString,
                ["Cluster:TablePrefix"] = TestEnvironment.UniqueTablePrefix(),
                ["Cluster:SiloPort"] = TestEnvironment.FreePort().ToString(),
                ["Cluster:GatewayPort"] = TestEnvironment.FreePort().ToString(),
                ["Logging:LogLevel:Default"] = "Warning",
                // Lets key-validation tests act as distinct sources through X-Forwarded-For.
                ["KeyValidation:TrustedProxies:0"] = "127.0.0.1",
            });
            builder.Logging.AddProvider(Logs);
            builder.Logging.AddFilter<CapturedLogs>(null, Microsoft.Extensions.Logging.LogLevel.Information);
        });
        await _app.StartAsync();
        var address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        BaseAddress = new Uri(address);
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
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
