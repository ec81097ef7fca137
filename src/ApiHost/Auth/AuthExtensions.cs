using System.Text.Json;
using Inference.ApiHost.Http;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Inference.Shared.Models;

namespace Inference.ApiHost.Auth;

public static class AuthExtensions
{
    public const string AdminPolicy = "admin";

    /// <param name="clustered">A cluster refuses settings a laptop may run with (the default password).</param>
    public static IServiceCollection AddTokenAuthentication(this IServiceCollection services, bool clustered)
    {
        services.AddSettings<AuthSettings>(AuthSettings.Section, o => o.Problem(clustered));
        services.AddSingleton(sp => sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<AuthSettings>>().Value);
        services.AddSingleton<TokenService>();
        services.AddSingleton<LoginThrottle>();
        services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme).AddJwtBearer();
        // Built from the checked settings, and at start (an unreadable JWKS fails start-up, not the first request).
        services.AddOptions<JwtBearerOptions>(JwtBearerDefaults.AuthenticationScheme)
            .Configure<AuthSettings>((o, settings) =>
            {
                o.MapInboundClaims = false;
                if (settings.Jwks is { Length: > 0 } jwks)
                {
                    o.ConfigurationManager = JwksConfiguration.Manager(jwks, settings);
                }
                o.TokenValidationParameters = new TokenValidationParameters
                {
                    ValidateIssuer = true,
                    ValidIssuer = settings.Issuer,
                    ValidateAudience = settings.Audience is not null,
                    ValidAudience = settings.Audience,
                    ValidateLifetime = true,
                    RequireExpirationTime = true,
                    RequireSignedTokens = true,
                    ValidateIssuerSigningKey = true,
                    IssuerSigningKeys = [TokenService.SigningKey(settings)],
                    ValidAlgorithms = settings.Jwks is null
                        ? [SecurityAlgorithms.HmacSha256]
                        : [SecurityAlgorithms.HmacSha256, SecurityAlgorithms.RsaSha256],
                    ClockSkew = TimeSpan.FromSeconds(30),
                    NameClaimType = Caller.SubjectClaim,
                };
                o.Events = new JwtBearerEvents
                {
                    OnMessageReceived = context =>
                    {
                        // An API key sent as a bearer token (key validation accepts that) is not a JWT: don't parse it.
                        if (context.Request.Headers.Authorization.ToString().StartsWith("Bearer pk_", StringComparison.Ordinal))
                        {
                            context.NoResult();
                            return Task.CompletedTask;
                        }
                        // Browsers cannot set headers on a WebSocket; /ws (and only /ws) also takes the token
                        // from the access_token query parameter.
                        if (context.HttpContext.Request.Path == Realtime.RealtimeApi.Path
                            && !context.Request.Headers.Authorization.Any()
                            && context.Request.Query["access_token"] is [{ Length: > 0 } token])
                        {
                            context.Token = token;
                        }
                        return Task.CompletedTask;
                    },
                    OnTokenValidated = context =>
                    {
                        var principal = context.Principal!;
                        var tenant = principal.FindFirst(Caller.TenantClaim)?.Value;
                        var isAdmin = Caller.IsAdminPrincipal(principal);
                        if (!isAdmin && !ModelRules.IsNamespace(tenant))
                        {
                            context.Fail("The token's tenant claim is missing or not a namespace name");
                        }
                        // With an identity system configured, admins come from it; JWT_SECRET then signs only
                        // tenant tokens and this service's own login, so a leaked or shared secret mints no admin.
                        else if (isAdmin && settings.Jwks is { Length: > 0 }
                            && context.SecurityToken is JsonWebToken { Alg: SecurityAlgorithms.HmacSha256 }
                            && principal.FindFirst(AuthSettings.TokenUseClaim)?.Value != AuthSettings.LoginTokenUse)
                        {
                            context.Fail("HS256 admin tokens are accepted only from this service's login when a JWKS is configured");
                        }
                        return Task.CompletedTask;
                    },
                    OnChallenge = context =>
                    {
                        context.HandleResponse();
                        context.Response.Headers.WWWAuthenticate = "Bearer";
                        var details = context.AuthenticateFailure is null ? null : "Invalid or expired token";
                        return ApiResults.WriteErrorAsync(context.HttpContext, StatusCodes.Status401Unauthorized, "Authentication required", details);
                    },
                    OnForbidden = context =>
                    {
                        return ApiResults.WriteErrorAsync(context.HttpContext, StatusCodes.Status403Forbidden, "Insufficient permissions", "Admin access required");
                    },
                };
            })
            .ValidateOnStart();
        services.AddAuthorizationBuilder()
            .AddPolicy(AdminPolicy, p => p.RequireAuthenticatedUser().RequireAssertion(c => Caller.IsAdminPrincipal(c.User)));
        return services;
    }
}
