using System.Net;
using Inference.ApiHost;
using Inference.ApiHost.Auth;
using Inference.TestSupport;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.IdentityModel.Tokens;

namespace Inference.Api.Tests;

[Collection(ApiCollection.Name)]
public sealed class TokenRulesTests(ApiFixture api)
{
    [Fact]
    public async Task With_a_jwks_configured_an_hs256_admin_token_not_from_the_login_is_refused()
    {
        var minted = api.Tokens.Sign(Tokens.Claims("mallory", "admin", true));
        var response = await api.Client(minted).GetAsync("/api/admin/tenants");
        await response.AssertError(HttpStatusCode.Unauthorized, "Authentication required");
        // The login's own tokens, and tenant tokens signed with the same secret, still work.
        (await api.Admin().GetAsync("/api/admin/tenants")).EnsureSuccessStatusCode();
        (await api.Tenant("tenant-a").GetAsync("/api/models")).EnsureSuccessStatusCode();
    }

    [Fact]
    public async Task The_admin_claim_reads_the_same_for_the_admin_policy_and_the_tenant_scope()
    {
        var claims = Tokens.Claims("dana", "tenant-a", false);
        claims["isAdmin"] = "TRUE";
        var client = api.Client(api.Tokens.SignRs256(claims, api.Tokens.ExternalKey));
        var adminRoute = (await client.GetAsync("/api/admin/tenants")).StatusCode;
        var otherTenant = (await client.GetAsync("/api/models?namespace=tenant-b")).StatusCode;
        Assert.Equal(HttpStatusCode.OK, adminRoute);
        Assert.Equal(HttpStatusCode.OK, otherTenant);
    }

    [Fact]
    public async Task A_key_added_to_the_jwks_is_accepted_without_a_restart()
    {
        var rotated = new RsaSecurityKey(System.Security.Cryptography.RSA.Create(2048)) { KeyId = "rotated-" + Guid.NewGuid().ToString("N")[..6] };
        var old = JsonWebKeyConverter.ConvertFromRSASecurityKey(api.Tokens.ExternalKey);
        var added = JsonWebKeyConverter.ConvertFromRSASecurityKey(rotated);
        await File.WriteAllTextAsync(api.JwksPath, System.Text.Json.JsonSerializer.Serialize(new
        {
            keys = new[] { old, added }.Select(k => new { kty = k.Kty, kid = k.Kid, use = "sig", alg = "RS256", n = k.N, e = k.E }),
        }));
        var client = api.Client(api.Tokens.SignRs256(Tokens.Claims("erin", "tenant-e", false), rotated));
        // The first token naming the unknown key asks for a re-read; the re-read runs in the background and is
        // spaced at least JwksConfiguration.UnknownKeyRefreshInterval apart, so keep asking until it lands.
        var deadline = DateTime.UtcNow + JwksConfiguration.UnknownKeyRefreshInterval * 3;
        HttpStatusCode status;
        while ((status = (await client.GetAsync("/api/models")).StatusCode) != HttpStatusCode.OK && DateTime.UtcNow < deadline)
        {
            await Task.Delay(500);
        }
        Assert.Equal(HttpStatusCode.OK, status);
        // The key the host started with still verifies.
        (await api.Client(api.Tokens.SignRs256(Tokens.Claims("carol", "tenant-c", false), api.Tokens.ExternalKey)).GetAsync("/api/models")).EnsureSuccessStatusCode();
    }
}

public sealed class PasswordHashTests
{
    [Fact]
    public void The_stated_format_verifies_a_hash_made_by_another_pbkdf2_implementation()
    {
        // Python: hashlib.pbkdf2_hmac("sha256", b"correct horse", bytes(range(16)), 100000), base64.
        const string hash = "pbkdf2-sha256:100000:AAECAwQFBgcICQoLDA0ODw==:V/LC8HOXSNUWQZsGKohGZjI8WD6krhZVBKgfe1PGKgk=";
        Assert.Null(PasswordHash.Problem(hash));
        Assert.True(PasswordHash.Verify("correct horse", hash));
        Assert.False(PasswordHash.Verify("correct horse ", hash));
    }

    [Fact]
    public void Created_hashes_are_salted_and_slow()
    {
        var a = PasswordHash.Create("s3cret");
        var b = PasswordHash.Create("s3cret");
        Assert.NotEqual(a, b);
        Assert.StartsWith($"pbkdf2-sha256:{PasswordHash.DefaultIterations}:", a);
        Assert.True(PasswordHash.Verify("s3cret", a));
        Assert.False(PasswordHash.Verify("s3cret!", a));
    }

    [Theory]
    [InlineData("sha256:5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8")]
    [InlineData("5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8")]
    [InlineData("pbkdf2-sha256:1000:AAECAwQFBgcICQoLDA0ODw==:V/LC8HOXSNUWQZsGKohGZjI8WD6krhZVBKgfe1PGKgk=")]
    [InlineData("pbkdf2-sha256:100000:AAEC:V/LC8HOXSNUWQZsGKohGZjI8WD6krhZVBKgfe1PGKgk=")]
    public async Task Unsalted_or_weak_hashes_stop_the_host_at_start(string hash)
    {
        var error = await StartupChecks.FailureAsync(new() { ["ADMIN_PASSWORD_HASH"] = hash });
        Assert.Contains("ADMIN_PASSWORD_HASH", error.Message);
        Assert.Contains("pbkdf2-sha256", error.Message);
    }
}

public sealed class ClusterModeStartupTests
{
    [Fact]
    public async Task Cluster_mode_refuses_to_start_without_an_audience()
    {
        var error = await StartupChecks.FailureAsync(new()
        {
            ["Mode"] = "Client",
            ["Cluster:Tls:Disabled"] = "true",
            ["KeyValidation:SigningKeys:k1"] = Convert.ToBase64String(new byte[48]),
            ["ADMIN_PASSWORD"] = "a-cluster-admin-password",
        });
        Assert.Contains("Auth__Audience", error.Message);
    }
}

/// <summary>A host listening on every interface with the default admin password: it must not start.</summary>
public sealed class ExposedDefaultPasswordFixture : ApiFixture
{
    protected override string ListenUrl => "http://0.0.0.0:0";
}

public sealed class DefaultPasswordExposureTests
{
    [Fact]
    public async Task The_host_refuses_to_start_beyond_loopback_with_the_default_password()
    {
        var fixture = new ExposedDefaultPasswordFixture();
        try
        {
            var error = await Assert.ThrowsAsync<InvalidOperationException>(fixture.InitializeAsync);
            Assert.Contains("default password", error.Message);
            Assert.Contains("0.0.0.0", error.Message);
        }
        finally
        {
            await fixture.DisposeAsync();
        }
    }

    [Theory]
    [InlineData("http://127.0.0.1:8085", true)]
    [InlineData("http://localhost:8085", true)]
    [InlineData("http://[::1]:8085", true)]
    [InlineData("http://0.0.0.0:8085", false)]
    [InlineData("http://[::]:8085", false)]
    [InlineData("http://*:8085", false)]
    [InlineData("http://+:8085", false)]
    [InlineData("http://10.1.2.3:8085", false)]
    public void Loopback_is_told_apart_from_every_other_address(string address, bool loopback) =>
        Assert.Equal(loopback, DefaultPasswordGuard.IsLoopback(address));
}
