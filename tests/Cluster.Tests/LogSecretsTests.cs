using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Inference.TestSupport;

namespace Inference.Cluster.Tests;

/// <summary>Structured logs (LOG_FORMAT=json, at debug level) of a silo and an API host through a full workload hold
/// nothing key- or token-shaped.</summary>
public sealed partial class LogSecretsTests
{
    [GeneratedRegex(@"pk_live_[A-Za-z0-9]{12,}")]
    private static partial Regex FullKey();

    [GeneratedRegex(@"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")]
    private static partial Regex Jwt();

    [Fact]
    public async Task A_full_workload_logs_json_lines_with_no_key_token_or_password()
    {
        await using var box = await BoxCluster.StartAsync(silos: 1, apiHosts: 1, new Dictionary<string, string>
        {
            ["LOG_FORMAT"] = "json",
            ["Logging__LogLevel__Default"] = "Debug",
            ["Logging__Console__FormatterName"] = "",
            ["Telemetry__Tracing"] = "true",
        }, keepAllOutput: true);
        var api = box.ApiHosts[0].BaseAddress;
        using var anonymous = new HttpClient { BaseAddress = api, Timeout = TimeSpan.FromSeconds(30) };

        // Login: a password in, an admin token out.
        var login = await anonymous.PostAsJsonAsync("/api/admin/login", new { username = "admin", password = BoxCluster.AdminPassword });
        Assert.True(login.IsSuccessStatusCode, await login.Content.ReadAsStringAsync());
        var adminToken = (await login.Content.ReadFromJsonAsync<JsonNode>())!["token"]!.GetValue<string>();
        await anonymous.PostAsJsonAsync("/api/admin/login", new { username = "admin", password = "wrong-" + BoxCluster.AdminPassword });
        using var admin = new HttpClient { BaseAddress = api, Timeout = TimeSpan.FromSeconds(30) };
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", adminToken);
        (await admin.GetAsync("/api/admin/tenants")).EnsureSuccessStatusCode();

        // Create, publish, validate, rotate, as a tenant user; a socket with its token in the query string.
        var token = box.Tokens.Tenant("tenant-a");
        using var tenant = new HttpClient { BaseAddress = api, Timeout = TimeSpan.FromSeconds(30) };
        tenant.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        await using var socket = await EventSocketClient.ConnectAsync(api, token, tokenInQuery: true);
        var name = $"logs-{Guid.NewGuid():N}"[..13];
        var created = await tenant.PostAsJsonAsync("/api/models", new { name, framework = "sklearn", storageUri = "s3://bucket/model" });
        Assert.True(created.StatusCode == HttpStatusCode.Created, await created.Content.ReadAsStringAsync() + box.Diagnostics());
        await TestEnvironment.Eventually(async () => await tenant.GetFromJsonAsync<JsonNode>($"/api/models/{name}"),
            m => m!["ready"]?.GetValue<bool>() == true, what: "the model to become Ready");
        var published = await tenant.PostAsJsonAsync($"/api/models/{name}/publish", new { config = new { rateLimiting = new { requestsPerMinute = 100 } } });
        Assert.True(published.StatusCode == HttpStatusCode.Created, await published.Content.ReadAsStringAsync());
        var key = (await published.Content.ReadFromJsonAsync<JsonNode>())!["publishedModel"]!["apiKey"]!.GetValue<string>();
        foreach (var presented in new[] { key, key, key[..^3] + "abc" })
        {
            using var validation = new HttpRequestMessage(HttpMethod.Post, "/api/validate-api-key");
            validation.Headers.Add("X-API-Key", presented);
            await anonymous.SendAsync(validation);
        }
        await anonymous.PostAsJsonAsync("/api/validate-api-key", new { apiKey = key });
        var rotated = await tenant.PostAsync($"/api/models/{name}/publish/rotate-key", null);
        Assert.True(rotated.IsSuccessStatusCode, await rotated.Content.ReadAsStringAsync());
        var newKey = (await rotated.Content.ReadFromJsonAsync<JsonNode>())!.ToJsonString();
        (await tenant.DeleteAsync($"/api/models/{name}/publish")).EnsureSuccessStatusCode();
        // An expired-looking bearer token and a key sent as a bearer token on the API.
        using var forged = new HttpRequestMessage(HttpMethod.Get, "/api/models");
        forged.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token[..^4] + "AAAA");
        await anonymous.SendAsync(forged);
        using var keyAsBearer = new HttpRequestMessage(HttpMethod.Get, "/api/models");
        keyAsBearer.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        await anonymous.SendAsync(keyAsBearer);

        var lines = box.ApiHosts.Select(h => h.Process).Concat(box.Silos.Select(s => s.Process)).SelectMany(p => p.AllOutput).ToList();
        var json = lines.Where(l => l.StartsWith('{')).ToList();
        Assert.True(json.Count > 50, $"{json.Count} JSON lines of {lines.Count}");
        // Every JSON line parses, and request logs carry a trace id.
        foreach (var line in json)
        {
            using var _ = JsonDocument.Parse(line);
        }
        Assert.Contains(json, l => l.Contains("\"TraceId\":", StringComparison.Ordinal));
        // The patterns do catch the real thing.
        Assert.Matches(FullKey(), key);
        Assert.Matches(Jwt(), adminToken);
        Assert.Matches(Jwt(), token);
        var secrets = new[] { key, adminToken, token, BoxCluster.AdminPassword, box.Tokens.Secret, BoxCluster.KeySigningSecret };
        var leaks = lines.Where(l => FullKey().IsMatch(l) || Jwt().IsMatch(l) || secrets.Any(s => l.Contains(s, StringComparison.Ordinal))
            || (newKey.Length > 0 && FullKey().Matches(newKey).Any(m => l.Contains(m.Value, StringComparison.Ordinal)))).ToList();
        Assert.True(leaks.Count == 0, "key- or token-shaped text in the logs:\n" + string.Join("\n", leaks.Take(20)));
    }
}
