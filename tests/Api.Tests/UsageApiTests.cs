using System.Net;
using Inference.TestSupport;

namespace Inference.Api.Tests;

/// <summary><c>GET /api/models/{name}/publish/usage</c>: the key grain's per-minute and per-hour history over HTTP.</summary>
[Collection(ApiCollection.Name)]
public class UsageApiTests(ApiFixture fixture)
{
    [Fact]
    public async Task A_publication_shows_its_requests_and_429s_per_minute_and_per_hour()
    {
        var tenant = fixture.Tenant("tenant-a");
        var name = await fixture.ReadyModelAsync(tenant);
        var key = (await tenant.PublishAsync(name, PublishingSupport.Config(rpm: 1, rph: 100, burst: 1))).Key();
        Assert.Equal(HttpStatusCode.OK, (await fixture.Client().ValidateAsync(key)).StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await fixture.Client().ValidateAsync(key)).StatusCode);

        var hour = await TestEnvironment.Eventually(
            async () => await (await tenant.GetAsync($"/api/models/{name}/publish/usage?window=1h")).AssertOk(),
            u => u["buckets"]!.AsArray().Sum(b => b!["requests"]!.GetValue<long>()) == 1
                 && u["buckets"]!.AsArray().Sum(b => b!["limited"]!.GetValue<long>()) == 1,
            what: "the hour to show one request and one 429");
        Assert.Equal(60, hour["bucketSeconds"]!.GetValue<int>());
        Assert.Equal(60, hour["buckets"]!.AsArray().Count);
        Assert.Equal("1h", hour["window"]!.GetValue<string>());
        Assert.Equal("tenant-a", hour["namespace"]!.GetValue<string>());
        var starts = hour["buckets"]!.AsArray().Select(b => b!["start"]!.GetValue<DateTimeOffset>()).ToList();
        Assert.All(starts.Zip(starts.Skip(1)), p => Assert.Equal(TimeSpan.FromMinutes(1), p.Second - p.First));

        var day = await (await tenant.GetAsync($"/api/models/{name}/publish/usage?window=24h")).AssertOk();
        Assert.Equal(3600, day["bucketSeconds"]!.GetValue<int>());
        Assert.Equal(24, day["buckets"]!.AsArray().Count);
        Assert.Equal(1, day["buckets"]!.AsArray().Sum(b => b!["requests"]!.GetValue<long>()));

        // An admin reads it with the tenant named; the tenant's default window is the hour.
        var admin = await (await fixture.Admin().GetAsync($"/api/models/{name}/publish/usage?namespace=tenant-a")).AssertOk();
        Assert.Equal(60, admin["buckets"]!.AsArray().Count);
    }

    [Fact]
    public async Task Every_429_is_counted_once_also_when_many_requests_share_one_refusal()
    {
        var tenant = fixture.Tenant("tenant-a");
        var name = await fixture.ReadyModelAsync(tenant);
        var key = (await tenant.PublishAsync(name, PublishingSupport.Config(rpm: 1, rph: 1000, burst: 1))).Key();
        Assert.Equal(HttpStatusCode.OK, (await fixture.Client().ValidateAsync(key)).StatusCode);

        // Concurrent requests join lease renewals already under way, and the last ones are answered by a renewal that
        // nothing follows: each of their 429s still has to reach the key's history.
        const int refused = 60;
        var answers = await Task.WhenAll(Enumerable.Range(0, refused).Select(_ => fixture.Client().ValidateAsync(key)));
        Assert.All(answers, a => Assert.Equal(HttpStatusCode.TooManyRequests, a.StatusCode));

        var hour = await TestEnvironment.Eventually(
            async () => await (await tenant.GetAsync($"/api/models/{name}/publish/usage?window=1h")).AssertOk(),
            u => u["buckets"]!.AsArray().Sum(b => b!["limited"]!.GetValue<long>()) >= refused,
            what: "the hour to show every 429");
        Assert.Equal(refused, hour["buckets"]!.AsArray().Sum(b => b!["limited"]!.GetValue<long>()));
        Assert.Equal(1, hour["buckets"]!.AsArray().Sum(b => b!["requests"]!.GetValue<long>()));
    }

    [Fact]
    public async Task Another_window_is_a_400_naming_it_an_unpublished_model_a_404_and_another_tenant_a_403()
    {
        var tenant = fixture.Tenant("tenant-a");
        var name = await fixture.ReadyModelAsync(tenant);
        await (await tenant.GetAsync($"/api/models/{name}/publish/usage?window=5m")).AssertError(HttpStatusCode.BadRequest, "window");
        await (await tenant.GetAsync($"/api/models/{name}/publish/usage")).AssertError(HttpStatusCode.NotFound);
        await (await fixture.Tenant("tenant-b").GetAsync($"/api/models/{name}/publish/usage?namespace=tenant-a")).AssertError(HttpStatusCode.Forbidden);
        await (await fixture.Client().GetAsync($"/api/models/{name}/publish/usage")).AssertError(HttpStatusCode.Unauthorized);
    }
}
