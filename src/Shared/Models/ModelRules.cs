using System.Text.RegularExpressions;
using Inference.Grains.Abstractions;
using Inference.Grains.Abstractions.Models;

namespace Inference.Shared.Models;

/// <summary>What KServe and Kubernetes accept for a model, checked before anything reaches the cluster so a
/// caller gets a clear 400 instead of a half-applied change.</summary>
public static partial class ModelRules
{
    /// <summary>KServe derives names such as "{name}-predictor-00001-deployment" from the model's name, and each must
    /// stay a valid 63-character DNS label.</summary>
    public const int MaxNameLength = 45;

    public const int MaxReplicasCap = 100;

    public const int MaxStorageUriLength = 2048;

    public static readonly IReadOnlyList<string> Frameworks =
        ["sklearn", "xgboost", "lightgbm", "tensorflow", "pytorch", "onnx", "triton", "pmml", "paddle", "huggingface", "mlflow"];

    public static readonly IReadOnlyList<string> StorageSchemes = ["s3", "gs", "pvc", "hf", "oci", "https"];

    public static readonly IReadOnlyList<string> ScaleMetrics = ["concurrency", "rps", "cpu", "memory"];

    [GeneratedRegex("^[a-z]([-a-z0-9]*[a-z0-9])?\\z")]
    private static partial Regex DnsLabel();

    public static ApiError? CheckName(string? name, string field = "name")
    {
        if (string.IsNullOrEmpty(name))
        {
            return Invalid($"Field '{field}' is required");
        }
        if (name.Length > MaxNameLength || !DnsLabel().IsMatch(name))
        {
            return Invalid($"Field '{field}' must be a lowercase DNS label: letters, digits and '-', starting with a letter, ending with a letter or digit, at most {MaxNameLength} characters");
        }
        return null;
    }

    /// <summary>A namespace is a DNS label of at most 63 characters (it may start with a digit).</summary>
    public static bool IsNamespace(string? value) =>
        value is { Length: > 0 and <= 63 } && NamespaceLabel().IsMatch(value);

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?\\z")]
    private static partial Regex NamespaceLabel();

    public static ApiError? Check(ModelSpec spec, ModelStorageOptions storage)
    {
        if (string.IsNullOrEmpty(spec.Framework))
        {
            return Invalid("Field 'framework' is required");
        }
        if (!Frameworks.Contains(spec.Framework))
        {
            return Invalid($"Field 'framework' must be one of: {string.Join(", ", Frameworks)}");
        }
        if (string.IsNullOrEmpty(spec.StorageUri))
        {
            return Invalid("Field 'storageUri' is required");
        }
        if (CheckStorageUri(spec.StorageUri, storage) is { } uriError)
        {
            return uriError;
        }
        if (spec.MinReplicas is < 0 or > MaxReplicasCap)
        {
            return Invalid($"Field 'minReplicas' must be between 0 and {MaxReplicasCap}");
        }
        if (spec.MaxReplicas is < 1 or > MaxReplicasCap)
        {
            return Invalid($"Field 'maxReplicas' must be between 1 and {MaxReplicasCap}");
        }
        if ((spec.MinReplicas ?? 1) > (spec.MaxReplicas ?? MaxReplicasCap))
        {
            return Invalid("Field 'minReplicas' must not be greater than 'maxReplicas'");
        }
        if (spec.ScaleTarget is < 1)
        {
            return Invalid("Field 'scaleTarget' must be a positive integer");
        }
        if (spec.ScaleMetric is not null && !ScaleMetrics.Contains(spec.ScaleMetric))
        {
            return Invalid($"Field 'scaleMetric' must be one of: {string.Join(", ", ScaleMetrics)}");
        }
        return null;
    }

    private static ApiError? CheckStorageUri(string value, ModelStorageOptions storage)
    {
        if (value.Length > MaxStorageUriLength || value.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            return Invalid($"Field 'storageUri' must be a URI of at most {MaxStorageUriLength} characters without spaces");
        }
        var colon = value.IndexOf("://", StringComparison.Ordinal);
        var scheme = colon > 0 ? value[..colon] : "";
        if (!StorageSchemes.Contains(scheme) || value.Length == colon + 3)
        {
            return Invalid($"Field 'storageUri' must start with one of: {string.Join(", ", StorageSchemes.Select(s => s + "://"))}");
        }
        return scheme is "https" or "http" ? CheckStorageHost(value, storage) : null;
    }

    /// <summary>The host is read the way .NET reads URLs (so "127.1", "0x7f.0.0.1" and "[::ffff:127.0.0.1]" are
    /// the loopback address they are); a backslash, which URL parsers disagree about, is refused outright.</summary>
    private static ApiError? CheckStorageHost(string value, ModelStorageOptions storage)
    {
        if (value.Contains('\\') || !Uri.TryCreate(value, UriKind.Absolute, out var uri) || uri.DnsSafeHost.Length == 0)
        {
            return Invalid("Field 'storageUri' must be a valid URL with a host");
        }
        if (storage.Refuses(uri.DnsSafeHost))
        {
            return Invalid($"Field 'storageUri' must not name a loopback, link-local or private address or localhost ('{uri.Host}'); "
                + $"an admin can allow an in-cluster model store with {ModelStorageOptions.Section}:AllowedHosts");
        }
        return null;
    }

    private static ApiError Invalid(string details) => new(ErrorKind.Invalid, "Invalid request format", details);
}
