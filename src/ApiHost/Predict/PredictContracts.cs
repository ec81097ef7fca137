using System.Text.Json;

namespace Inference.ApiHost.Predict;

public sealed record PredictRequest(JsonElement? InputData, ConnectionSettings? ConnectionSettings, string? Namespace);

/// <summary>Where to send the prediction instead of the model's own URL; admins only.</summary>
public sealed record ConnectionSettings(
    bool UseCustom, string? Host, int? Port, string? Path, Dictionary<string, string>? Headers, string? Protocol)
{
    private const int MaxHeaders = 20;

    /// <summary>Headers the proxy sets itself or that would change how the request travels.</summary>
    private static readonly HashSet<string> ReservedHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        "Host", "Content-Length", "Content-Type", "Transfer-Encoding", "Connection", "Keep-Alive", "Upgrade",
        "Proxy-Connection", "Proxy-Authorization", "TE", "Trailer", "Expect",
    };

    /// <summary>The target URL, or what is wrong with the settings.</summary>
    public (Uri? Target, string? Error) Resolve(string model)
    {
        var protocol = (Protocol ?? "http").ToLowerInvariant();
        if (protocol is not ("http" or "https"))
        {
            return (null, "Field 'connectionSettings.protocol' must be 'http' or 'https'");
        }
        if (string.IsNullOrWhiteSpace(Host) || Uri.CheckHostName(Host) == UriHostNameType.Unknown)
        {
            return (null, "Field 'connectionSettings.host' must be a host name or IP address");
        }
        if (Port is { } port && port is < 1 or > 65535)
        {
            return (null, "Field 'connectionSettings.port' must be between 1 and 65535");
        }
        var path = Path ?? $"/v1/models/{model}:predict";
        if (!path.StartsWith('/') || path.StartsWith("//", StringComparison.Ordinal) || path.Length > 2048
            || path.Any(c => char.IsControl(c) || c is ' ' or '#' or '\\'))
        {
            return (null, "Field 'connectionSettings.path' must be an absolute path such as /v1/models/name:predict");
        }
        if (Headers is { } headers)
        {
            if (headers.Count > MaxHeaders)
            {
                return (null, $"Field 'connectionSettings.headers' may hold at most {MaxHeaders} headers");
            }
            foreach (var (name, value) in headers)
            {
                if (name.Length is 0 or > 128 || !name.All(IsTokenChar) || ReservedHeaders.Contains(name))
                {
                    return (null, $"Header '{name}' in 'connectionSettings.headers' is not allowed");
                }
                if (value is null || value.Length > 8192 || value.Any(char.IsControl))
                {
                    return (null, $"Header '{name}' in 'connectionSettings.headers' has an invalid value");
                }
            }
        }
        var builder = new UriBuilder(protocol, Host, Port ?? -1) { Path = path[..(path.IndexOf('?') is var q and >= 0 ? q : path.Length)] };
        if (path.IndexOf('?') is var query and >= 0)
        {
            builder.Query = path[(query + 1)..];
        }
        return (builder.Uri, null);
    }

    private static bool IsTokenChar(char c) =>
        char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c);
}
