using System.Net;
using System.Net.Http.Headers;

namespace Inference.Cluster.Tests;

public sealed class RateLimitClusterTests
{
    [Fact]
    public async Task Two_api_hosts_share_one_count_per_user()
    {
        const int limit = 10;
        await using var box = await BoxCluster.StartAsync(silos: 1, apiHosts: 2, new Dictionary<string, string>
        {
            ["RATE_LIMIT_REQUESTS"] = limit.ToString(),
            ["RateLimit__Burst"] = "1000",
        });
        var token = box.Tokens.Tenant("tenant-a", subject: "shared-user");
        var hosts = box.ApiHosts.Select(h =>
        {
            var http = new HttpClient { BaseAddress = h.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            return http;
        }).ToList();

        for (var i = 1; i <= limit; i++)
        {
            var response = await hosts[i % 2].GetAsync("/api/models");
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"request {i}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}{box.Diagnostics()}");
            Assert.Equal((limit - i).ToString(), response.Headers.GetValues("X-RateLimit-Remaining").Single());
        }
        foreach (var host in hosts)
        {
            var refused = await host.GetAsync("/api/models");
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
            Assert.NotNull(refused.Headers.RetryAfter);
            Assert.Equal("0", refused.Headers.GetValues("X-RateLimit-Remaining").Single());
        }
    }
}
