using System.Security.Claims;
using System.Text;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Inference.ApiHost.Auth;

/// <summary>Signs the tokens this service issues (admin login, and the local `box token` helper).</summary>
public sealed class TokenService(AuthSettings settings, TimeProvider time)
{
    private readonly JsonWebTokenHandler _handler = new();

    public static SymmetricSecurityKey SigningKey(AuthSettings settings) => new(Encoding.UTF8.GetBytes(settings.JwtSecret));

    public (string Token, DateTimeOffset Expires) Issue(string subject, string name, string tenant, bool isAdmin)
    {
        var now = time.GetUtcNow();
        var expires = now + settings.TokenLifetime;
        var claims = new Dictionary<string, object>
        {
            [Caller.SubjectClaim] = subject,
            [Caller.NameClaim] = name,
            [Caller.TenantClaim] = tenant,
            [Caller.AdminClaim] = isAdmin,
            // Marks the tokens this service signs itself, which are the only HS256 admin tokens accepted once an
            // external identity system (JWKS) is configured.
            [AuthSettings.TokenUseClaim] = AuthSettings.LoginTokenUse,
        };
        var descriptor = new SecurityTokenDescriptor
        {
            Issuer = settings.Issuer,
            Audience = settings.Audience,
            Claims = claims,
            IssuedAt = now.UtcDateTime,
            NotBefore = now.UtcDateTime,
            Expires = expires.UtcDateTime,
            SigningCredentials = new SigningCredentials(SigningKey(settings), SecurityAlgorithms.HmacSha256),
        };
        return (_handler.CreateToken(descriptor), expires);
    }
}
