using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using KubeEmulator.Json;

namespace KubeEmulator.Serving;

/// <summary>
/// Deterministic stand-ins for model outputs: the same input always gives the same answer, so tests and demos can
/// assert on them. Classifiers answer an int class; for 4-feature vectors a petal-length rule reproduces the
/// classes the real sklearn iris sample gives.
/// </summary>
internal static class Predictions
{
    public static JsonNode Predict(string framework, JsonNode? instance)
    {
        if (instance is JsonArray features && features.All(f => f is JsonValue v && v.GetValueKind() == JsonValueKind.Number))
        {
            var values = features.Select(f => JsonTree.Number((JsonValue)f!)).ToArray();
            if (values.Length == 4) return values[2] < 2.5 ? 0 : values[2] < 4.95 ? 1 : 2;
            return (int)(Math.Abs(values.Sum()) * 10) % 3;
        }
        if (framework == "huggingface" && JsonTree.Str(instance) is { } text)
            return Bucket(text, 2) == 0 ? "POSITIVE" : "NEGATIVE";
        return Bucket(instance?.ToJsonString() ?? "null", 3);
    }

    public static string ChatReply(string model, string prompt) =>
        $"[{model} emulated] Response to \"{prompt}\": this reply is generated deterministically by the Kubernetes API emulator.";

    public static int CountTokens(string text) => text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;

    public static string Id(string seed) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(seed)))[..24];

    private static int Bucket(string text, int buckets) =>
        (int)(uint.Parse(Id(text)[..7], NumberStyles.HexNumber, CultureInfo.InvariantCulture) % (uint)buckets);
}
