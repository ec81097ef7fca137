using System.Security.Cryptography;
using System.Text;
using Inference.ApiHost.Audit;
using Inference.ApiHost.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Inference.ApiHost.Auth;

public static class AuthApi
{
    public sealed record LoginRequest(string? Username, string? Password);

    public sealed record LoginUser(string Tenant, string Name, string Subject, string Issuer, bool IsAdmin, long Exp);

    public sealed record LoginResponse(string Token, LoginUser User);

    public static IEndpointRouteBuilder MapAuthApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/admin/login", Login).AllowAnonymous().WithoutTenantScope("anonymous: it issues the admin's token")
            .WithTags("Admin").WithName("AdminLogin").WithSummary("Log in as the admin and receive a token")
            .WithMetadata(new RequestBodyType(typeof(LoginRequest)))
            .ProducesErrors(400, 401, 429);
        return app;
    }

    private static async Task<Results<Ok<LoginResponse>, ErrorResult>> Login(HttpContext context, AuthSettings settings, TokenService tokens,
        LoginThrottle throttle, ILoggerFactory loggers, IAuditLog audit)
    {
        var logger = loggers.CreateLogger("Inference.ApiHost.Auth");
        // Behind trusted proxies (ForwardedHeaders) this is the client they report, so clients sharing an ingress
        // are not one source.
        var source = context.Connection.RemoteIpAddress ?? System.Net.IPAddress.None;
        var (request, error) = await JsonBody.ReadAsync<LoginRequest>(context.Request);
        if (error is not null)
        {
            return error;
        }
        if (string.IsNullOrEmpty(request!.Username) || string.IsNullOrEmpty(request.Password))
        {
            return ApiResults.Invalid("Fields 'username' and 'password' are required");
        }
        // Counted before the password is checked, in one step with the decision: however many guesses arrive at
        // once, no more than the limit are ever checked.
        if (throttle.Attempt(source) is { } retryAfter)
        {
            context.Response.Headers.RetryAfter = retryAfter.ToString(System.Globalization.CultureInfo.InvariantCulture);
            await audit.WriteAsync(AuditRecord.For(context, AuditRecord.LoginFailed, null, null, StatusCodes.Status429TooManyRequests, actor: "(throttled)"));
            return ApiResults.Error(StatusCodes.Status429TooManyRequests, "Too many failed login attempts", $"Try again in {retryAfter} seconds");
        }
        // Both comparisons always run, in constant time, so timing tells nothing about which part was wrong.
        var userOk = FixedTimeEquals(request.Username, settings.AdminUsername);
        var passwordOk = PasswordMatches(request.Password, settings);
        if (!(userOk & passwordOk))
        {
            logger.LogWarning("Admin login failed from {Source}", source);
            // The username as typed, never the password.
            await audit.WriteAsync(AuditRecord.For(context, AuditRecord.LoginFailed, null, null, StatusCodes.Status401Unauthorized, actor: request.Username));
            return ApiResults.Error(StatusCodes.Status401Unauthorized, "Invalid credentials");
        }
        throttle.Succeeded(source);
        var (token, expires) = tokens.Issue(settings.AdminUsername, "Administrator", "admin", isAdmin: true);
        logger.LogInformation("Admin {User} logged in from {Source}", settings.AdminUsername, source);
        await audit.WriteAsync(AuditRecord.For(context, "admin.login", null, null, StatusCodes.Status200OK, actor: settings.AdminUsername));
        return TypedResults.Ok(new LoginResponse(token,
            new LoginUser("admin", "Administrator", settings.AdminUsername, settings.Issuer, true, expires.ToUnixTimeSeconds())));
    }

    private static bool PasswordMatches(string password, AuthSettings settings) =>
        settings.AdminPasswordHash is { } hash
            ? PasswordHash.Verify(password, hash)
            : FixedTimeEquals(password, settings.AdminPassword ?? AuthSettings.DefaultAdminPassword);

    private static bool FixedTimeEquals(string a, string b) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(a)), SHA256.HashData(Encoding.UTF8.GetBytes(b)));
}
