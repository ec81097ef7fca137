using System.Net;
using Inference.TestSupport;

namespace Inference.Api.Tests;

/// <summary>A host with the default per-minute limit and a burst allowance too large to interfere, so the test is
/// decided by the minute window alone.</summary>
public sealed class RateLimitFixture : ApiFixture
{
    // The default, so the test reads as the contract does: the 101st request in a minute is refused.
    public const int Limit = 100;

    protected override void Configure(IDictionary<string, string?> settings)
    {
        settings["RATE_LIMIT_REQUESTS"] = Limit.ToString();
        settings["RateLimit:Burst"] = "1000";
    }
}

public sealed class RateLimitTests(RateLimitFixture api) : IClassFixture<RateLimitFixture>
{
    private const int Limit = RateLimitFixture.Limit;

    private static string Header(HttpResponseMessage r, string name) =>
        r.Headers.TryGetValues(name, out var values) ? string.Join(",", values) : throw new Xunit.Sdk.XunitException($"no {name} header");

    [Fact]
    public async Task The_request_past_the_limit_gets_429_with_headers_and_every_response_carries_them()
    {
        // The window slides: the limit+1st request within one minute of the first is refused, whenever the test runs.
        var user = api.Client(api.Tokens.Tenant("tenant-a", subject: $"rl-{Guid.NewGuid():N}"));
        for (var i = 1; i <= Limit; i++)
        {
            var ok = await user.GetAsync(i % 2 == 0 ? "/api/models" : "/api/models/no-such-model");
            Assert.True(ok.StatusCode is HttpStatusCode.OK or HttpStatusCode.NotFound, $"request {i}: {(int)ok.StatusCode}");
            Assert.Equal(Limit.ToString(), Header(ok, "X-RateLimit-Limit"));
            Assert.Equal((Limit - i).ToString(), Header(ok, "X-RateLimit-Remaining"));
            Assert.InRange(int.Parse(Header(ok, "X-RateLimit-Reset")), 1, 60);
            Assert.Equal($"limit={Limit}, remaining={Limit - i}, reset={Header(ok, "X-RateLimit-Reset")}", Header(ok, "RateLimit"));
            Assert.Equal($"{Limit};w=60, 1000;w=1", Header(ok, "RateLimit-Policy"));
        }

        var refused = await user.GetAsync("/api/models");
        await refused.AssertError(HttpStatusCode.TooManyRequests, "Rate limit exceeded");
        Assert.InRange(refused.Headers.RetryAfter!.Delta!.Value.TotalSeconds, 1, 60);
        Assert.Equal("0", Header(refused, "X-RateLimit-Remaining"));
        Assert.Equal(Limit.ToString(), Header(refused, "X-RateLimit-Limit"));

        // Every route of the API shares the one allowance.
        await (await user.PostJson("/api/models", new { name = "x" })).AssertError(HttpStatusCode.TooManyRequests);

        // Another user of the same tenant has their own count.
        var other = await api.Client(api.Tokens.Tenant("tenant-a", subject: $"rl-{Guid.NewGuid():N}")).GetAsync("/api/models");
        await other.AssertOk();
        Assert.Equal((Limit - 1).ToString(), Header(other, "X-RateLimit-Remaining"));
    }

    [Fact]
    public async Task Login_and_unauthenticated_requests_are_not_counted()
    {
        var anonymous = await api.Client().GetAsync("/api/models");
        await anonymous.AssertError(HttpStatusCode.Unauthorized);
        Assert.False(anonymous.Headers.Contains("X-RateLimit-Limit"));

        // An admin token on the login route is not counted against the admin.
        var admin = api.Client(api.Tokens.Admin());
        var login = await admin.PostJson("/api/admin/login", new { username = "nobody", password = "wrong" });
        Assert.False(login.Headers.Contains("X-RateLimit-Limit"));
    }
}
