using System.Text.Json;
using Inference.ApiHost.Http;
using Inference.Grains.Models;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.IdentityModel.Tokens;

namespace Inference.ApiHost.Auth;

public static class AuthExtensions
{
    public const string AdminPolicy = "admin";

    public static IServiceCollection AddTokenAuthentication(this IServiceCollection services, AuthSettings settings)
    {
        services.AddSingleton(settings);
        services.AddSingleton<TokenService>();
        services.AddSingleton<LoginThrottle>();
        services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme)
            .AddJwtBearer(o =>
            {
                o.MapInboundClaims = false;
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
                    IssuerSigningKey = TokenService.SigningKey(settings),
                    ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
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
                        }
                        return Task.CompletedTask;
                    },
                    OnTokenValidated = context =>
                    {
                        var principal = context.Principal!;
                        var tenant = principal.FindFirst(Caller.TenantClaim)?.Value;
                        if (!Caller.IsAdminPrincipal(principal) && !ModelRules.IsNamespace(tenant))
                        {
                            context.Fail("The token's tenant claim is missing or not a namespace name");
                        }
                        return Task.CompletedTask;
                    },
                    OnChallenge = async context =>
                    {
                        context.HandleResponse();
                        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                        context.Response.Headers.WWWAuthenticate = "Bearer";
                        var details = context.AuthenticateFailure is null ? null : "Invalid or expired token";
                        await context.Response.WriteAsJsonAsync(new ErrorBody("Authentication required", details), ApiJson.Options);
                    },
                    OnForbidden = async context =>
                    {
                        context.Response.StatusCode = StatusCodes.Status403Forbidden;
                        await context.Response.WriteAsJsonAsync(new ErrorBody("Insufficient permissions", "Admin access required"), ApiJson.Options);
                    },
                };
            });
        services.AddAuthorizationBuilder()
            .AddPolicy(AdminPolicy, p => p.RequireAuthenticatedUser().RequireClaim(Caller.AdminClaim, "true", "True"));
        return services;
    }
}
