namespace Inference.ApiHost.Auth;

/// <summary>Section "Auth", plus the contract's JWT_SECRET and ADMIN_* variables.</summary>
public sealed class AuthSettings
{
    public const string Section = "Auth";
    public const string DefaultAdminUsername = "admin";
    public const string DefaultAdminPassword = "password";
    public const int MinSecretBytes = 32;

    public string JwtSecret { get; set; } = "";

    public string Issuer { get; set; } = "management-service";

    /// <summary>When set, tokens must carry this audience.</summary>
    public string? Audience { get; set; }

    /// <summary>RS256 verification keys of an external identity system: a JWKS file path or an https URL,
    /// read at start. Tokens signed with JWT_SECRET (HS256) stay valid alongside.</summary>
    public string? Jwks { get; set; }

    public TimeSpan TokenLifetime { get; set; } = TimeSpan.FromHours(8);

    public string AdminUsername { get; set; } = DefaultAdminUsername;

    /// <summary>Plain admin password; prefer <see cref="AdminPasswordHash"/> outside a laptop.</summary>
    public string? AdminPassword { get; set; }

    /// <summary>"sha256:{hex}" of the admin password.</summary>
    public string? AdminPasswordHash { get; set; }

    /// <summary>Failed logins allowed per source address per minute before 429.</summary>
    public int LoginFailuresPerMinute { get; set; } = 5;

    public bool UsesDefaultPassword => AdminPasswordHash is null && (AdminPassword is null || AdminPassword == DefaultAdminPassword);

    public static AuthSettings From(IConfiguration configuration)
    {
        var settings = new AuthSettings();
        configuration.GetSection(Section).Bind(settings);
        settings.JwtSecret = configuration["JWT_SECRET"] is { Length: > 0 } secret ? secret : settings.JwtSecret;
        settings.AdminUsername = configuration["ADMIN_USERNAME"] is { Length: > 0 } user ? user : settings.AdminUsername;
        settings.AdminPassword = configuration["ADMIN_PASSWORD"] is { Length: > 0 } password ? password : settings.AdminPassword;
        settings.AdminPasswordHash = configuration["ADMIN_PASSWORD_HASH"] is { Length: > 0 } hash ? hash : settings.AdminPasswordHash;
        return settings;
    }
}
