using System.Text.Json.Nodes;
using KubeEmulator.Validation;

namespace KubeEmulator.Resources;

/// <summary>
/// One API resource as discovery describes it. Objects of a resource are stored once, whatever served version they
/// were written through (the embedded CRDs need no conversion webhooks: their versions share one shape).
/// </summary>
internal sealed class ResourceType
{
    public required string Group { get; init; }
    public required string Plural { get; init; }
    public required string Singular { get; init; }
    public required string Kind { get; init; }
    public required bool Namespaced { get; init; }
    /// <summary>Whether a <c>/status</c> subresource exists: then main-resource writes ignore <c>.status</c>.</summary>
    public required bool HasStatus { get; init; }
    public required bool IsCustom { get; init; }
    /// <summary>Served versions, the storage (preferred) version first; schema is null for built-in kinds.</summary>
    public required IReadOnlyList<(string Version, StructuralSchema? Schema)> Versions { get; init; }
    public IReadOnlyList<string> ShortNames { get; init; } = [];
    /// <summary>For custom resources, each served version's <c>openAPIV3Schema</c> as the CRD declares it (read-only),
    /// published in the OpenAPI documents.</summary>
    public IReadOnlyDictionary<string, JsonObject> CrdSchemas { get; init; } = new Dictionary<string, JsonObject>();
    /// <summary>For custom resources, each served version's <c>additionalPrinterColumns</c> (read-only).</summary>
    public IReadOnlyDictionary<string, JsonArray> PrinterColumns { get; init; } = new Dictionary<string, JsonArray>();
    /// <summary>For built-in kinds, the name of the kind's definition in the published OpenAPI document.</summary>
    public string? OpenApiDefinition { get; init; }

    public string ListKind => Kind + "List";
    public string Key => $"{Group}/{Plural}";
    public string PreferredVersion => Versions[0].Version;
    public string QualifiedResource => Group.Length == 0 ? Plural : $"{Plural}.{Group}";
    public string QualifiedKind => Group.Length == 0 ? Kind : $"{Kind}.{Group}";

    public string ApiVersion(string version) => Group.Length == 0 ? version : $"{Group}/{version}";

    public bool Serves(string version) => Versions.Any(v => v.Version == version);

    public StructuralSchema? SchemaFor(string version) => Versions.FirstOrDefault(v => v.Version == version).Schema;
}
