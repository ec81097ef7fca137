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

/// <summary>Its own API host, because failed logins from loopback lock loopback out for a minute.</summary>
public sealed class LoginThrottleFixture : ApiFixture;

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
