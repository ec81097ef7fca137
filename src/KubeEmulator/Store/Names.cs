using System.Security.Cryptography;

namespace KubeEmulator.Store;

/// <summary>Random name suffixes as the apiserver (generateName) and controllers (pod names) produce them.</summary>
internal static class Names
{
    // k8s.io/apimachinery/pkg/util/rand alphabet: no vowels (no accidental words) and no confusable characters.
    private const string Alphabet = "bcdfghjklmnpqrstvwxz2456789";

    public static string RandomSuffix(int length = 5) =>
        string.Create(length, 0, (span, _) =>
        {
            for (var i = 0; i < span.Length; i++) span[i] = Alphabet[RandomNumberGenerator.GetInt32(Alphabet.Length)];
        });

    /// <summary>A stable suffix derived from <paramref name="seed"/>, like a pod-template-hash.</summary>
    public static string StableSuffix(string seed, int length = 10)
    {
        var hash = SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(seed));
        return string.Create(length, hash, (span, h) =>
        {
            for (var i = 0; i < span.Length; i++) span[i] = Alphabet[h[i] % Alphabet.Length];
        });
    }
}
