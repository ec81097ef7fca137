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

        // A 503 is the key's grain refusing to grant beyond what storage has taken (a reservation write that storage
        // was slow to take, on a loaded machine): its caller retries after Retry-After, as a gateway's client does, and
        // the limit must hold as exactly.
        // Retries stop well inside the minute the warm-up admissions opened, so none lands where that minute's
        // admissions have expired and more would be admitted.
        var retried = 0;
        var retryUntil = DateTime.UtcNow.AddSeconds(30);
        var calls = Enumerable.Range(0, 300).Select(async i =>
        {
            while (true)
            {
                var request = new HttpRequestMessage(HttpMethod.Post, "/api/validate-api-key");
                request.Headers.Add("X-API-Key", key);
                using var response = await hosts[i % 2].SendAsync(request);
                if (response.StatusCode != HttpStatusCode.ServiceUnavailable || DateTime.UtcNow > retryUntil)
                {
                    return (Host: i % 2, response.StatusCode);
                }
                Interlocked.Increment(ref retried);
                await Task.Delay(response.Headers.RetryAfter?.Delta ?? TimeSpan.FromSeconds(1));
            }
        });
        var results = await Task.WhenAll(calls);
        Assert.True(results.All(r => r.StatusCode is HttpStatusCode.OK or HttpStatusCode.TooManyRequests),
            $"{string.Join(", ", results.GroupBy(r => r.StatusCode).Select(g => $"{(int)g.Key} x{g.Count()}"))} after {retried} retries of a 503");

        Assert.Equal(98, results.Count(r => r.StatusCode == HttpStatusCode.OK));
        Assert.Equal(202, results.Count(r => r.StatusCode == HttpStatusCode.TooManyRequests));

        // Usage is what the hosts spent from their leases, reported within a lease period.
        await TestEnvironment.Eventually(async () => (await tenant.GetFromJsonAsync<JsonNode>($"/api/models/{name}/publish"))!["usage"]!["totalRequests"]!.GetValue<long>(),
            n => n == 100, what: "usage to equal the admissions");
    }

    [Fact]
    public async Task Leases_on_two_client_hosts_revoke_at_once_survive_a_killed_host_and_count_usage()
    {
        await using var box = await BoxCluster.StartAsync(silos: 2, apiHosts: 2);
        var hosts = box.ApiHosts.Select(h => new HttpClient { BaseAddress = h.BaseAddress, Timeout = TimeSpan.FromSeconds(60) }).ToList();
        var tenant = hosts[0];
        tenant.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", box.Tokens.Tenant("tenant-a"));
        var name = "ls" + Guid.NewGuid().ToString("N")[..8];
        var created = await tenant.PostAsJsonAsync("/api/models", new { name, framework = "sklearn", storageUri = "s3://bucket/model" });
        Assert.True(created.StatusCode == HttpStatusCode.Created, await created.Content.ReadAsStringAsync() + box.Diagnostics());
        await TestEnvironment.Eventually(async () => await tenant.GetFromJsonAsync<JsonNode>($"/api/models/{name}"),
            m => m?["ready"]?.GetValue<bool>() == true, what: "the model to become Ready");

        async Task<string> PublishAsync(int perMinute)
        {
            var published = await tenant.PostAsJsonAsync($"/api/models/{name}/publish", new
            {
                config = new { rateLimiting = new { requestsPerMinute = perMinute, requestsPerHour = 100_000, tokensPerHour = 0, burstLimit = perMinute } },
            });
            var body = await published.Content.ReadAsStringAsync();
            Assert.True(published.StatusCode == HttpStatusCode.Created, body + box.Diagnostics());
            return JsonNode.Parse(body)!["publishedModel"]!["apiKey"]!.GetValue<string>();
        }
        async Task<HttpStatusCode> ValidateAsync(HttpClient host, string key)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/api/validate-api-key");
            request.Headers.Add("X-API-Key", key);
            return (await host.SendAsync(request)).StatusCode;
        }
        async Task<long> UsageAsync() =>
            (await tenant.GetFromJsonAsync<JsonNode>($"/api/models/{name}/publish"))!["usage"]!["totalRequests"]!.GetValue<long>();

        // Both hosts decide from leases; usage equals the admissions once a lease period has passed.
        var key = await PublishAsync(100_000);
        var admitted = 0;
        for (var round = 0; round < 20; round++)
        {
            var answers = await Task.WhenAll(hosts.SelectMany(h => Enumerable.Range(0, 10).Select(_ => ValidateAsync(h, key))));
            Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a));
            admitted += answers.Length;
        }
        await TestEnvironment.Eventually(UsageAsync, n => n == admitted, what: $"usage to reach {admitted}");

        // Unpublishing answers only once every host dropped its lease: from then on every host refuses the key.
        var unpublished = await tenant.DeleteAsync($"/api/models/{name}/publish");
        Assert.Equal(HttpStatusCode.OK, unpublished.StatusCode);
        foreach (var host in hosts)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, await ValidateAsync(host, key));
        }

        // A host killed while holding a lease loses at most its unspent grant; the key keeps working on the other.
        key = await PublishAsync(40);
        Assert.Equal(HttpStatusCode.OK, await ValidateAsync(hosts[1], key));
        Assert.Equal(HttpStatusCode.OK, await ValidateAsync(hosts[1], key));
        box.ApiHosts[1].Process.Kill();
        var afterKill = 0;
        for (var i = 0; i < 60; i++)
        {
            afterKill += await ValidateAsync(hosts[0], key) == HttpStatusCode.OK ? 1 : 0;
        }
        // 40 a minute in all: the two admitted through the killed host, what it held unspent (a lease takes at most
        // a quarter of what is left), and the rest through the surviving host. Never more than the limit.
        Assert.InRange(afterKill, 40 - 2 - 10, 40 - 2);
    }
}
