namespace Inference.ApiHost.Keys;

public sealed class KeyValidationOptions
{
    public const string Section = "KeyValidation";

    /// <summary>Failed validations one source may cause per minute before its failures are refused outright (429).
    /// A valid key is never refused by it.</summary>
    public int FailuresPerMinute { get; set; } = 100;

    /// <summary>The secrets that sign API keys, by id (two lowercase letters or digits, written into every key):
    /// base64 of at least 32 random bytes each, the same on every API host. Keep a retired secret here as long as
    /// keys it signed should work; new keys are signed with <see cref="ActiveSigningKey"/>.
    /// Set as <c>KeyValidation__SigningKeys__k1=...</c>.</summary>
    public Dictionary<string, string> SigningKeys { get; set; } = [];

    /// <summary>The id in <see cref="SigningKeys"/> that signs new keys; may be left out when there is only one.</summary>
    public string? ActiveSigningKey { get; set; }

    public const int MinSigningKeyBytes = 32;

    /// <summary>A port of its own for key validation (<c>KeyValidation__Port</c>), served beside the API port by
    /// <see cref="KeyValidationListener"/>: the two validation routes and nothing else, with no framework telemetry per
    /// request. Unset: validation is served on the API port only (it is served there in any case).</summary>
    public int? Port { get; set; }

    internal string ActiveSigningKeyId() => ActiveSigningKey ?? (SigningKeys.Count == 1 ? SigningKeys.Keys.Single() : "");

    /// <summary>What is wrong with the settings, naming the variable to set; null when they are usable.</summary>
    /// <param name="portsInUse">The process's other listeners, by port, each described as the settings name it (a
    /// validation port on one of them would fail start-up later with a bind error, or shut the other out).</param>
    public string? Problem(IReadOnlyDictionary<int, string>? portsInUse = null)
    {
        if (SigningKeys.Count == 0)
        {
            return $"KeyValidation__SigningKeys__k1 must be set: base64 of at least {MinSigningKeyBytes} random bytes (e.g. `openssl rand -base64 48`), the same on every API host.";
        }
        foreach (var (id, secret) in SigningKeys)
        {
            if (id.Length != ApiKeys.KeyIdLength || !id.All(c => char.IsAsciiDigit(c) || char.IsAsciiLetterLower(c)))
            {
                return $"KeyValidation__SigningKeys__{id}: a signing key id is {ApiKeys.KeyIdLength} lowercase letters or digits.";
            }
            var bytes = new byte[secret.Length];
            if (!Convert.TryFromBase64String(secret, bytes, out var length) || length < MinSigningKeyBytes)
            {
                return $"KeyValidation__SigningKeys__{id} must be base64 of at least {MinSigningKeyBytes} bytes.";
            }
        }
        if (!SigningKeys.ContainsKey(ActiveSigningKeyId()))
        {
            return "KeyValidation__ActiveSigningKey must name one of KeyValidation__SigningKeys when there are several.";
        }
        if (Port is < 1 or > 65535)
        {
            return "KeyValidation__Port must be a TCP port (1 to 65535), or unset.";
        }
        if (Port is { } port && portsInUse?.GetValueOrDefault(port) is { } other)
        {
            return $"KeyValidation__Port ({port}) must differ from {other}: set it to a free port of its own.";
        }
        if (FailuresPerMinute < 1)
        {
            return "KeyValidation__FailuresPerMinute must be at least 1.";
        }
        return null;
    }
}
