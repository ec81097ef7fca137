using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Inference.TestSupport;

namespace Inference.Cluster.Tests;

public sealed class KeyRateLimitClusterTests
{
    [Fact]
    public async Task One_key_hammered_through_two_api_hosts_gets_exactly_its_per_minute_limit()
    {
        await using var box = await BoxCluster.StartAsync(silos: 2, apiHosts: 2);
        var hosts = box.ApiHosts.Select(h => new HttpClient { BaseAddress = h.BaseAddress, Timeout = TimeSpan.FromSeconds(60) }).ToList();
        var tenant = hosts[0];
        tenant.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", box.Tokens.Tenant("tenant-a"));

        var name = "rl" + Guid.NewGuid().ToString("N")[..8];
        var created = await tenant.PostAsJsonAsync("/api/models", new { name, framework = "sklearn", storageUri = "s3://bucket/model" });
        Assert.True(created.StatusCode == HttpStatusCode.Created, await created.Content.ReadAsStringAsync() + box.Diagnostics());
        await TestEnvironment.Eventually(
            async () => await tenant.GetFromJsonAsync<JsonNode>($"/api/models/{name}"),
            m => m?["ready"]?.GetValue<bool>() == true, what: "the model to become Ready");
        // Burst equal to the per-minute limit, so only the per-minute window (an exact sliding 60 s window) decides.
        var published = await tenant.PostAsJsonAsync($"/api/models/{name}/publish", new
        {
            config = new { rateLimiting = new { requestsPerMinute = 100, requestsPerHour = 1000, tokensPerHour = 0, burstLimit = 100 } },
        });
        var publishBody = await published.Content.ReadAsStringAsync();
        Assert.True(published.StatusCode == HttpStatusCode.Created, publishBody + box.Diagnostics());
        var key = JsonNode.Parse(publishBody)!["publishedModel"]!["apiKey"]!.GetValue<string>();

        // One admitted request through each host first: both hosts provably count against the same budget.
        foreach (var host in hosts)
        {
            var warm = new HttpRequestMessage(HttpMethod.Post, "/api/validate-api-key");
            warm.Headers.Add("X-API-Key", key);
            Assert.Equal(HttpStatusCode.OK, (await host.SendAsync(warm)).StatusCode);
        }

        var calls = Enumerable.Range(0, 300).Select(async i =>
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/api/validate-api-key");
            request.Headers.Add("X-API-Key", key);
            var response = await hosts[i % 2].SendAsync(request);
            return (Host: i % 2, response.StatusCode);
        });
        var results = await Task.WhenAll(calls);

        Assert.Equal(98, results.Count(r => r.StatusCode == HttpStatusCode.OK));
        Assert.Equal(202, results.Count(r => r.StatusCode == HttpStatusCode.TooManyRequests));

        var usage = (await tenant.GetFromJsonAsync<JsonNode>($"/api/models/{name}/publish"))!["usage"]!;
        Assert.Equal(100, usage["totalRequests"]!.GetValue<long>());
    }
}
