namespace Inference.ApiHost.Auth;

/// <summary>Section "Auth"; the contract's JWT_SECRET and ADMIN_* variables are mapped onto it (Http.Settings).</summary>
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

    /// <summary>What is wrong, naming the variable to set; null when usable. A cluster refuses what a laptop may run
    /// with (the laptop gets a generated secret for the run instead, see ApiHostApp).</summary>
    public string? Problem(bool clustered)
    {
        if (System.Text.Encoding.UTF8.GetByteCount(JwtSecret) < MinSecretBytes)
        {
            return $"JWT_SECRET must be set to at least {MinSecretBytes} bytes{(clustered ? " in cluster mode" : "")}.";
        }
        if (AdminPasswordHash is { } hash && PasswordHash.Problem(hash) is { } hashProblem)
        {
            return hashProblem;
        }
        if (clustered && string.IsNullOrWhiteSpace(Audience))
        {
            // Tokens meant for another service signed by the same identity system must not open this one.
            return "Cluster mode requires Auth__Audience: the audience (aud) every token must name.";
        }
        if (clustered && UsesDefaultPassword)
        {
            return "Cluster mode refuses the default admin password: set ADMIN_PASSWORD or ADMIN_PASSWORD_HASH.";
        }
        if (LoginFailuresPerMinute < 1)
        {
            return $"{Section}__{nameof(LoginFailuresPerMinute)} must be at least 1.";
        }
        return TokenLifetime <= TimeSpan.Zero ? $"{Section}__{nameof(TokenLifetime)} must be a positive time span." : null;
    }
}
