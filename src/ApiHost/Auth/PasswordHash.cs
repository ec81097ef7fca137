using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Inference.ApiHost.Auth;

/// <summary>The admin password hash format of <c>ADMIN_PASSWORD_HASH</c>:
/// <c>pbkdf2-sha256:{iterations}:{salt}:{hash}</c>, PBKDF2 with HMAC-SHA256 (RFC 8018) over the UTF-8 password,
/// salt and hash in standard base64 (the hash 32 bytes, the salt at least 16). <c>./box hash-password</c> makes one
/// (600 000 iterations, 16 random bytes of salt); any PBKDF2 implementation can, e.g. Python's
/// <c>hashlib.pbkdf2_hmac("sha256", password, salt, 600000)</c>. Salted and slow, so a leaked hash is not a
/// leaked password: unsalted digests are refused at start.</summary>
public static class PasswordHash
{
    public const string Scheme = "pbkdf2-sha256";
    public const int DefaultIterations = 600_000;
    public const int MinIterations = 100_000;

    // Above this one login would occupy a core for seconds: a configuration error, not more safety.
    public const int MaxIterations = 10_000_000;

    private const int HashBytes = 32;
    private const int MinSaltBytes = 16;

    public const string FormatDescription = "pbkdf2-sha256:{iterations}:{base64 salt}:{base64 hash}, made by ./box hash-password";

    public static string Create(string password, int iterations = DefaultIterations)
    {
        var salt = RandomNumberGenerator.GetBytes(MinSaltBytes);
        var hash = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, HashBytes);
        return $"{Scheme}:{iterations.ToString(CultureInfo.InvariantCulture)}:{Convert.ToBase64String(salt)}:{Convert.ToBase64String(hash)}";
    }

    /// <summary>Why <paramref name="encoded"/> is not a usable hash, or null when it is.</summary>
    public static string? Problem(string encoded) => TryParse(encoded, out _, out _, out _) is { } problem
        ? $"ADMIN_PASSWORD_HASH is not in the expected format ({FormatDescription}): {problem}"
        : null;

    /// <summary>Constant time in the password; false for a hash that does not parse.</summary>
    public static bool Verify(string password, string encoded)
    {
        if (TryParse(encoded, out var iterations, out var salt, out var expected) is not null)
        {
            return false;
        }
        var actual = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, expected.Length);
        return CryptographicOperations.FixedTimeEquals(actual, expected);
    }

    private static string? TryParse(string encoded, out int iterations, out byte[] salt, out byte[] hash)
    {
        iterations = 0;
        salt = hash = [];
        var parts = encoded.Trim().Split(':');
        if (parts.Length != 4 || parts[0] != Scheme)
        {
            return $"it must start with '{Scheme}:' and have four ':'-separated parts";
        }
        if (!int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out iterations) || iterations is < MinIterations or > MaxIterations)
        {
            return $"the iteration count must be a whole number from {MinIterations} to {MaxIterations}";
        }
        try
        {
            salt = Convert.FromBase64String(parts[2]);
            hash = Convert.FromBase64String(parts[3]);
        }
        catch (FormatException)
        {
            return "the salt and the hash must be base64";
        }
        if (salt.Length < MinSaltBytes || hash.Length != HashBytes)
        {
            return $"the salt must be at least {MinSaltBytes} bytes and the hash {HashBytes} bytes";
        }
        return null;
    }
}
