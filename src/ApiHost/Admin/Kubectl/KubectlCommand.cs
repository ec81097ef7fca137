namespace Inference.ApiHost.Admin.Kubectl;

public enum KubectlVerb
{
    Get,
    Describe,
    Logs,
}

public enum OutputFormat
{
    Table,
    Wide,
    Yaml,
    Json,
    Name,
}

/// <summary>A parsed, allow-listed, read-only kubectl command.</summary>
public sealed record KubectlCommand(
    KubectlVerb Verb,
    KubeResource? Resource,
    IReadOnlyList<string> Names,
    string? Namespace,
    bool AllNamespaces,
    string? Selector,
    OutputFormat Output,
    string? Container,
    int? Tail)
{
    /// <summary>The namespace a namespaced command acts in: the one given, else "default" as kubectl does.</summary>
    public string EffectiveNamespace => Namespace ?? "default";
}

/// <summary>A command outside the allow-list or malformed; the message says what is allowed.</summary>
public sealed class KubectlRejectedException(string message) : Exception(message);
