using System.Text;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Inference.TestSupport;

/// <summary>Mints tokens the way an external identity system would, independently of the service's own code,
/// including the malformed and hostile ones the service must refuse.</summary>
public sealed class Tokens(string secret, string issuer = "management-service", string? audience = null)
{
    public string Secret { get; } = secret;

    /// <summary>The audience every token carries (cluster mode requires one); null for none.</summary>
    public string? Audience { get; } = audience;

    public static Tokens WithRandomSecret(string? audience = null) =>
        new(Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(48)), audience: audience);

    /// <summary>The RSA key of a pretend external identity system, published as a JWKS document.</summary>
    public RsaSecurityKey ExternalKey { get; } = new(System.Security.Cryptography.RSA.Create(2048)) { KeyId = "external-1" };

    public string ExternalJwks()
    {
        var jwk = JsonWebKeyConverter.ConvertFromRSASecurityKey(ExternalKey);
        return System.Text.Json.JsonSerializer.Serialize(new { keys = new[] { new { kty = jwk.Kty, kid = jwk.Kid, use = "sig", alg = "RS256", n = jwk.N, e = jwk.E } } });
    }

    public string SignRs256(Dictionary<string, object> claims, RsaSecurityKey key) =>
        new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer,
            Audience = Audience,
            Claims = claims,
            Expires = DateTime.UtcNow.AddHours(1),
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.RsaSha256),
        });

    public string Tenant(string tenant, string? subject = null) => Sign(Claims(subject ?? $"{tenant}-user", tenant, false));

    /// <summary>An admin token as the service's own login issues it (HS256 with its secret, marked as a login
    /// token: once a JWKS is configured, other HS256 admin tokens are refused).</summary>
    public string Admin() => Sign(new Dictionary<string, object>(Claims("admin", "admin", true)) { ["token_use"] = "management-login" });

    public string Sign(Dictionary<string, object> claims, DateTime? expires = null, string? key = null, string? issuerOverride = null)
    {
        var now = DateTime.UtcNow;
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuerOverride ?? issuer,
            Audience = Audience,
            Claims = claims,
            IssuedAt = (expires ?? now.AddHours(1)) < now ? now.AddHours(-2) : now,
            NotBefore = (expires ?? now.AddHours(1)) < now ? now.AddHours(-2) : now,
            Expires = expires ?? now.AddHours(1),
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(key ?? Secret)), SecurityAlgorithms.HmacSha256),
        });
    }

    public static Dictionary<string, object> Claims(string subject, string? tenant, bool isAdmin)
    {
        var claims = new Dictionary<string, object> { ["sub"] = subject, ["name"] = subject, ["isAdmin"] = isAdmin };
        if (tenant is not null)
        {
            claims["tenant"] = tenant;
        }
        return claims;
    }

    /// <summary>An unsigned token ("alg": "none") carrying the given claims.</summary>
    public string Unsigned(Dictionary<string, object> claims)
    {
        var header = Base64Url("{\"alg\":\"none\",\"typ\":\"JWT\"}");
        claims = new Dictionary<string, object>(claims)
        {
            ["iss"] = issuer,
            ["exp"] = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds(),
        };
        return $"{header}.{Base64Url(System.Text.Json.JsonSerializer.Serialize(claims))}.";
    }

    /// <summary>A validly signed token whose payload was then edited (e.g. to claim another tenant).</summary>
    public static string Tampered(string token, string from, string to)
    {
        var parts = token.Split('.');
        var payload = Encoding.UTF8.GetString(Base64UrlEncoder.DecodeBytes(parts[1])).Replace(from, to);
        return $"{parts[0]}.{Base64Url(payload)}.{parts[2]}";
    }

    private static string Base64Url(string s) => Base64UrlEncoder.Encode(Encoding.UTF8.GetBytes(s));
}
