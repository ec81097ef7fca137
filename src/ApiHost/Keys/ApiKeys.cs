using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Inference.Grains.Abstractions.Publishing;

namespace Inference.ApiHost.Keys;

/// <summary>API keys: <c>pk_live_</c> + 43 random base62 characters (256 bits, more than 32 random bytes) + the id of
/// the signing secret (2 characters) + an 8-character base62 tag, an HMAC-SHA256 of all that under the cluster's
/// signing secret (<see cref="KeyValidationOptions.SigningKeys"/>). Only this service can mint a key whose tag is
/// right, so a forged key is refused before any grain is touched; the id lets the secret be rotated without
/// invalidating keys already issued. Keys are stored only as the hex SHA-256 of the whole key: a key is a uniformly
/// random 256-bit secret, so a fast unsalted hash is enough (nothing to brute-force), and equal keys always meet the
/// same grain.</summary>
public static class ApiKeys
{
    public const string Prefix = "pk_live_";
    public const int BodyLength = 43;
    public const int KeyIdLength = 2;
    public const int TagLength = 8;
    public const int Length = 8 + BodyLength + KeyIdLength + TagLength;

    /// <summary>Characters in a key's hash: lowercase hex of its SHA-256.</summary>
    public const int HashLength = 64;
    private const int MaskedChars = 6;
    private const int SignedLength = Length - TagLength;
    internal const string Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

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

    /// <summary>The id of the secret that signed a key of the right shape.</summary>
    public static ReadOnlySpan<char> KeyId(ReadOnlySpan<char> key) => key.Slice(Prefix.Length + BodyLength, KeyIdLength);

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

    /// <summary>A new key signed with <paramref name="secret"/> under <paramref name="keyId"/>.</summary>
    internal static NewApiKey Create(string keyId, byte[] secret)
    {
        Span<char> key = stackalloc char[Length];
        Prefix.AsSpan().CopyTo(key);
        RandomNumberGenerator.GetItems(Alphabet.AsSpan(), key.Slice(Prefix.Length, BodyLength));
        keyId.AsSpan().CopyTo(key.Slice(Prefix.Length + BodyLength, KeyIdLength));
        Tag(key[..SignedLength], secret, key[SignedLength..]);
        var full = new string(key);
        return new NewApiKey(Hash(full), Mask(full), full);
    }

    /// <summary>Whether a key of the right shape carries the tag <paramref name="secret"/> gives it; in constant time,
    /// so the time taken tells nothing about how much of a forged tag was right.</summary>
    internal static bool HasValidTag(ReadOnlySpan<char> key, byte[] secret)
    {
        Span<char> expected = stackalloc char[TagLength];
        Tag(key[..SignedLength], secret, expected);
        return CryptographicOperations.FixedTimeEquals(MemoryMarshal.AsBytes(expected), MemoryMarshal.AsBytes(key[SignedLength..]));
    }

    private static void Tag(ReadOnlySpan<char> signed, byte[] secret, Span<char> into)
    {
        Span<byte> ascii = stackalloc byte[SignedLength];
        Encoding.ASCII.GetBytes(signed, ascii);
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(secret, ascii, mac);
        for (var i = 0; i < into.Length; i++)
        {
            into[i] = Alphabet[mac[i] % Alphabet.Length];
        }
    }
}

/// <summary>Mints and checks keys with the cluster's signing secrets (<see cref="KeyValidationOptions"/>): new keys
/// under the active secret, checks under whichever secret a key names.</summary>
public sealed class ApiKeySigner
{
    private readonly string _activeId;
    private readonly Dictionary<string, byte[]> _secrets;
    private readonly Dictionary<string, byte[]>.AlternateLookup<ReadOnlySpan<char>> _byId;

    public ApiKeySigner(Microsoft.Extensions.Options.IOptions<KeyValidationOptions> options)
    {
        var o = options.Value;
        _secrets = o.SigningKeys.ToDictionary(p => p.Key, p => Convert.FromBase64String(p.Value), StringComparer.Ordinal);
        _activeId = o.ActiveSigningKeyId();
        _byId = _secrets.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public NewApiKey Create() => ApiKeys.Create(_activeId, _secrets[_activeId]);

    /// <summary>Shape and tag: true only for a key this cluster minted (or a forgery that guessed the tag).</summary>
    public bool IsGenuine(ReadOnlySpan<char> key) =>
        ApiKeys.HasKeyShape(key) && _byId.TryGetValue(ApiKeys.KeyId(key), out var secret) && ApiKeys.HasValidTag(key, secret);
}
