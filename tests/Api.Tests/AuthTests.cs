using System.Net;
using Inference.TestSupport;

namespace Inference.Api.Tests;

[Collection(ApiCollection.Name)]
public sealed class AuthTests(ApiFixture api)
{
    [Fact]
    public async Task Admin_login_returns_a_token_with_the_contract_claims_that_the_api_accepts()
    {
        var response = await api.Client().PostJson("/api/admin/login", new { username = "admin", password = "password" });
        var body = await response.AssertOk();
        var token = body["token"]!.GetValue<string>();
        Assert.Equal(3, token.Split('.').Length);
        var user = body["user"]!;
        Assert.Equal("admin", user["tenant"]!.GetValue<string>());
        Assert.Equal("Administrator", user["name"]!.GetValue<string>());
        Assert.Equal("admin", user["subject"]!.GetValue<string>());
        Assert.Equal("management-service", user["issuer"]!.GetValue<string>());
        Assert.True(user["isAdmin"]!.GetValue<bool>());
        Assert.True(user["exp"]!.GetValue<long>() > DateTimeOffset.UtcNow.ToUnixTimeSeconds());

        (await api.Client(token).GetAsync("/api/models")).EnsureSuccessStatusCode();
    }

    [Theory]
    [InlineData("admin", "wrong")]
    [InlineData("root", "password")]
    public async Task Wrong_credentials_get_401(string username, string password)
    {
        var response = await api.Client().PostJson("/api/admin/login", new { username, password });
        await response.AssertError(HttpStatusCode.Unauthorized, "Invalid credentials");
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("{\"username\":\"admin\"}")]
    [InlineData("{\"username\":")]
    [InlineData("[1,2]")]
    public async Task Malformed_login_gets_400(string body)
    {
        var response = await api.Client().PostRaw("/api/admin/login", body);
        await response.AssertError(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task No_token_gets_401_with_the_contract_body()
    {
        var body = await (await api.Client().GetAsync("/api/models")).AssertError(HttpStatusCode.Unauthorized);
        Assert.Equal("Authentication required", body["error"]!.GetValue<string>());
    }

    public static TheoryData<string, Func<Tokens, string>> BadTokens => new()
    {
        { "alg none", t => t.Unsigned(Tokens.Claims("mallory", "tenant-a", true)) },
        { "wrong signature", t => t.Sign(Tokens.Claims("mallory", "tenant-a", false), key: new string('x', 48)) },
        { "expired", t => t.Sign(Tokens.Claims("alice", "tenant-a", false), expires: DateTime.UtcNow.AddMinutes(-10)) },
        { "missing tenant claim", t => t.Sign(Tokens.Claims("alice", null, false)) },
        { "tenant not a namespace", t => t.Sign(Tokens.Claims("alice", "Tenant_A!", false)) },
        { "tampered tenant claim", t => Tokens.Tampered(t.Tenant("tenant-a"), "tenant-a", "tenant-b") },
        { "tampered admin claim", t => Tokens.Tampered(t.Tenant("tenant-a"), "\"isAdmin\":false", "\"isAdmin\":true") },
        { "wrong issuer", t => t.Sign(Tokens.Claims("alice", "tenant-a", false), issuerOverride: "someone-else") },
        { "garbage", _ => "not.a.jwt" },
        { "RS256 from an unknown key", t => t.SignRs256(Tokens.Claims("eve", "tenant-a", false), new Microsoft.IdentityModel.Tokens.RsaSecurityKey(System.Security.Cryptography.RSA.Create(2048)) { KeyId = "external-1" }) },
    };

    [Theory]
    [MemberData(nameof(BadTokens))]
    public async Task Bad_tokens_get_401(string why, Func<Tokens, string> mint)
    {
        var response = await api.Client(mint(api.Tokens)).GetAsync("/api/models");
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{why}: got {(int)response.StatusCode} {body}");
        Assert.Contains("Authentication required", body);
    }

    [Fact]
    public async Task RS256_tokens_from_the_configured_JWKS_are_accepted_with_their_tenant()
    {
        var token = api.Tokens.SignRs256(Tokens.Claims("carol", "tenant-c", false), api.Tokens.ExternalKey);
        var client = api.Client(token);
        (await client.GetAsync("/api/models")).EnsureSuccessStatusCode();
        await (await client.GetAsync("/api/models?namespace=tenant-a")).AssertError(HttpStatusCode.Forbidden, "tenant-a");
    }

    [Fact]
    public async Task Health_is_open_and_readiness_checks_kubernetes_and_orleans()
    {
        (await api.Client().GetAsync("/health")).EnsureSuccessStatusCode();
        var ready = await (await api.Client().GetAsync("/ready")).AssertOk();
        Assert.Equal("ready", ready["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task Unknown_routes_answer_in_the_contract_shape()
    {
        await (await api.Admin().GetAsync("/api/no-such-thing")).AssertError(HttpStatusCode.NotFound);
    }
}

/// <summary>Its own API host, because failed logins from loopback lock loopback out for a minute. Loopback is a
/// trusted proxy here, so tests act as distinct clients behind it through X-Forwarded-For.</summary>
public sealed class LoginThrottleFixture : ApiFixture
{
    protected override void Configure(IDictionary<string, string?> settings) =>
        settings["Proxies:Trusted:0"] = "127.0.0.0/8";
}

[CollectionDefinition(Name)]
public sealed class LoginThrottleCollection : ICollectionFixture<LoginThrottleFixture>
{
    public const string Name = "login-throttle";
}

[Collection(LoginThrottleCollection.Name)]
public sealed class LoginThrottleTests(LoginThrottleFixture api)
{
    [Fact]
    public async Task Repeated_failures_from_one_source_get_429_with_retry_after_even_with_the_right_password()
    {
        var client = api.Client();
        for (var i = 0; i < 5; i++)
        {
            await (await client.PostJson("/api/admin/login", new { username = "admin", password = $"guess{i}" }))
                .AssertError(HttpStatusCode.Unauthorized);
        }
        var blocked = await client.PostJson("/api/admin/login", new { username = "admin", password = "password" });
        await blocked.AssertError(HttpStatusCode.TooManyRequests);
        Assert.True(int.Parse(blocked.Headers.GetValues("Retry-After").Single()) is > 0 and <= 60);
    }
}

[Collection(LoginThrottleCollection.Name)]
public sealed class LoginThrottleSourceTests(LoginThrottleFixture api)
{
    private static HttpRequestMessage Login(string client, string password) =>
        new(HttpMethod.Post, "/api/admin/login")
        {
            Content = System.Net.Http.Json.JsonContent.Create(new { username = "admin", password }),
            Headers = { { "X-Forwarded-For", client } },
        };

    [Fact]
    public async Task Concurrent_wrong_passwords_from_one_source_are_not_all_checked()
    {
        var client = api.Client();
        var answers = await Task.WhenAll(Enumerable.Range(0, 50).Select(i => client.SendAsync(Login("198.51.100.7", $"guess{i}"))));
        var statuses = answers.Select(a => a.StatusCode).ToList();
        Assert.Equal(5, statuses.Count(s => s == HttpStatusCode.Unauthorized));
        Assert.Equal(45, statuses.Count(s => s == HttpStatusCode.TooManyRequests));
    }

    [Fact]
    public async Task Clients_behind_one_trusted_proxy_are_separate_sources()
    {
        var client = api.Client();
        for (var i = 0; i < 5; i++)
        {
            await (await client.SendAsync(Login("198.51.100.8", $"guess{i}"))).AssertError(HttpStatusCode.Unauthorized);
        }
        await (await client.SendAsync(Login("198.51.100.8", "password"))).AssertError(HttpStatusCode.TooManyRequests);
        // Another client behind the same proxy is not locked out by the first one's guesses.
        await (await client.SendAsync(Login("198.51.100.9", "password"))).AssertOk();
        // The proxy's own hop is skipped: what a client prepends to the header does not make it a new source.
        await (await client.SendAsync(Login("203.0.113.1, 198.51.100.8", "password"))).AssertError(HttpStatusCode.TooManyRequests);
    }
}

/// <summary>The counter behind the login throttle, on a clock the test moves.</summary>
public sealed class FailureCounterTests
{
    private sealed class Clock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static IPAddress Source(int i) => new([198, 51, 100, (byte)i]);

    [Fact]
    public void A_full_table_forgets_the_least_recent_source_and_never_fails_open()
    {
        var counter = new Inference.ApiHost.Http.FailureCounter(limitPerMinute: 2, new Clock(), maxTrackedSources: 3);
        for (var i = 1; i <= 3; i++)
        {
            counter.Failed(Source(i));
            counter.Failed(Source(i));
            Assert.True(counter.RetryAfter(Source(i), out _) > 0);
        }
        // A new source while the table is full of live windows is still counted, and refused past the limit.
        counter.Failed(Source(4));
        counter.Failed(Source(4));
        Assert.InRange(counter.RetryAfter(Source(4), out _), 1, 60);
        // Room was made by forgetting the source counted least recently, not a recent one.
        Assert.Equal(0, counter.RetryAfter(Source(1), out _));
        Assert.True(counter.RetryAfter(Source(3), out _) > 0);
    }

    [Fact]
    public void A_refused_source_waits_at_most_one_window_however_often_it_tries()
    {
        var clock = new Clock();
        var counter = new Inference.ApiHost.Http.FailureCounter(limitPerMinute: 5, clock);
        var source = Source(1);
        for (var i = 0; i < 5; i++)
        {
            Assert.True(counter.TryAttempt(source, out _));
        }
        for (var second = 0; second < 60; second++)
        {
            for (var i = 0; i < 20; i++)
            {
                Assert.False(counter.TryAttempt(source, out var retry));
                Assert.Equal(60 - second, retry);
            }
            clock.Now = clock.Now.AddSeconds(1);
        }
        Assert.True(counter.TryAttempt(source, out _));
    }
}
