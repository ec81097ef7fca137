using System.Security.Cryptography;
using System.Text;
using Inference.Grains.Abstractions.Publishing;

namespace Inference.ApiHost.Keys;

/// <summary>API keys: <c>pk_live_</c> + 43 random base62 characters (256 bits, more than 32 random bytes) + a
/// 6-character base62 checksum of those 43. The checksum lets the API host refuse junk and typos before any grain is
/// touched. Keys are stored only as the hex SHA-256 of the whole key: a key is a uniformly random 256-bit secret,
/// so a fast unsalted hash is enough (nothing to brute-force), and equal keys always meet the same grain.</summary>
public static class ApiKeys
{
    public const string Prefix = "pk_live_";
    public const int BodyLength = 43;
    public const int ChecksumLength = 6;
    public const int Length = 8 + BodyLength + ChecksumLength;

    /// <summary>Characters in a key's hash: lowercase hex of its SHA-256.</summary>
    public const int HashLength = 64;
    private const int MaskedChars = 6;
    private const string Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    /// <summary>A new key: the full key (to show once), its hash (the grain key) and its masked form.</summary>
    public static NewApiKey Create()
    {
        Span<char> key = stackalloc char[Length];
        Prefix.AsSpan().CopyTo(key);
        RandomNumberGenerator.GetItems(Alphabet.AsSpan(), key.Slice(Prefix.Length, BodyLength));
        Checksum(key.Slice(Prefix.Length, BodyLength), key[(Prefix.Length + BodyLength)..]);
        var full = new string(key);
        return new NewApiKey(Hash(full), Mask(full), full);
    }

    /// <summary>Shape and checksum only; allocation-free.</summary>
    public static bool IsWellFormed(ReadOnlySpan<char> key) => HasKeyShape(key) && HasValidChecksum(key);

    /// <summary>Length, prefix and alphabet: what <see cref="Hash(ReadOnlySpan{char}, Span{char})"/> needs.</summary>
    public static bool HasKeyShape(ReadOnlySpan<char> key)
    {
        if (key.Length != Length || !key.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }
        foreach (var c in key[Prefix.Length..])
        {
            if (!char.IsAsciiLetterOrDigit(c))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>The checksum of a key of the right shape (<see cref="HasKeyShape"/>).</summary>
    public static bool HasValidChecksum(ReadOnlySpan<char> key)
    {
        Span<char> expected = stackalloc char[ChecksumLength];
        Checksum(key.Slice(Prefix.Length, BodyLength), expected);
        return expected.SequenceEqual(key[(Prefix.Length + BodyLength)..]);
    }

    public static string Hash(ReadOnlySpan<char> key)
    {
        Span<char> hex = stackalloc char[HashLength];
        Hash(key, hex);
        return new string(hex);
    }

    /// <summary>The hash into <paramref name="hex"/> (<see cref="HashLength"/> characters), for a lookup that
    /// need not allocate it.</summary>
    public static void Hash(ReadOnlySpan<char> key, Span<char> hex)
    {
        Span<byte> ascii = stackalloc byte[Length];
        var written = Encoding.ASCII.GetBytes(key, ascii);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(ascii[..written], hash);
        Convert.TryToHexStringLower(hash, hex, out _);
    }

    /// <summary>The form shown after creation: prefix and the first characters, enough to tell keys apart.</summary>
    public static string Mask(string key) => string.Concat(key.AsSpan(0, Prefix.Length + MaskedChars), "...");

    private static void Checksum(ReadOnlySpan<char> body, Span<char> into)
    {
        Span<byte> ascii = stackalloc byte[BodyLength];
        Encoding.ASCII.GetBytes(body, ascii);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(ascii, hash);
        for (var i = 0; i < into.Length; i++)
        {
            into[i] = Alphabet[hash[i] % Alphabet.Length];
        }
    }
}
