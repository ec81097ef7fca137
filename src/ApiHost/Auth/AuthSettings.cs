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

    /// <summary>When set, tokens must carry this audience; required in cluster mode.</summary>
    public string? Audience { get; set; }

    /// <summary>RS256 verification keys of an external identity system: a JWKS file path or an https URL, read on
    /// first use and re-read every <see cref="JwksRefreshInterval"/> (and sooner when a token names a key it does
    /// not hold). Tokens signed with JWT_SECRET (HS256) stay valid alongside, except admin tokens: with a JWKS
    /// configured, an HS256 admin token is accepted only from this service's own login (<see cref="TokenUseClaim"/>).</summary>
    public string? Jwks { get; set; }

    /// <summary>How often the JWKS is re-read; at least five minutes (the identity library's floor).</summary>
    public TimeSpan JwksRefreshInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>The claim, and its value, that this service's own login puts in the admin tokens it issues.</summary>
    public const string TokenUseClaim = "token_use";

    public const string LoginTokenUse = "management-login";

    public TimeSpan TokenLifetime { get; set; } = TimeSpan.FromHours(8);

    public string AdminUsername { get; set; } = DefaultAdminUsername;

    /// <summary>Plain admin password; prefer <see cref="AdminPasswordHash"/> outside a laptop.</summary>
    public string? AdminPassword { get; set; }

    /// <summary>The admin password as a salted, slow hash (ADMIN_PASSWORD_HASH), instead of
    /// <see cref="AdminPassword"/>: <c>pbkdf2-sha256:{iterations}:{base64 salt}:{base64 hash}</c>, PBKDF2-HMAC-SHA256
    /// of the UTF-8 password with at least 100 000 iterations, a salt of at least 16 bytes and a 32-byte hash.
    /// <c>./box hash-password</c> reads a password on stdin and prints one; see <see cref="PasswordHash"/>.</summary>
    public string? AdminPasswordHash { get; set; }

    /// <summary>Login attempts allowed per source address per minute before 429 (a success clears its source).</summary>
    public int LoginFailuresPerMinute { get; set; } = 5;

    /// <summary>Source addresses the login throttle remembers; past it the least recently seen is forgotten.</summary>
    public int LoginTrackedSources { get; set; } = 10_000;

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
