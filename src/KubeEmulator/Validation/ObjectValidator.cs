using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using KubeEmulator.Api;
using KubeEmulator.Json;
using KubeEmulator.Resources;

namespace KubeEmulator.Validation;

/// <summary>
/// Validation run on every write: ObjectMeta rules for all kinds, the CRD schema (with pruning and defaulting) for
/// custom resources, the published OpenAPI definitions (types, unknown fields dropped, required fields) for built-in
/// kinds, and a few of the built-in kinds' own Go validation rules.
/// </summary>
internal static partial class ObjectValidator
{
    private const string Rfc1123Label =
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
    private const string Rfc1123Subdomain =
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    private const string LabelValueRule =
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

    private static readonly HashSet<string> ObjectMetaFields =
    [
        "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation", "creationTimestamp",
        "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences", "finalizers", "managedFields",
    ];

    private const string Rfc1035Label =
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

    /// <summary>The name rule of each built-in kind, as its registry's validation picks it; the rest (and every
    /// custom resource) are DNS-1123 subdomains.</summary>
    private static readonly Dictionary<string, NameRule> BuiltInNameRules = new()
    {
        ["Namespace"] = NameRule.Dns1123Label,
        ["Service"] = NameRule.Dns1035Label,
        ["Role"] = NameRule.PathSegment,
        ["ClusterRole"] = NameRule.PathSegment,
        ["RoleBinding"] = NameRule.PathSegment,
        ["ClusterRoleBinding"] = NameRule.PathSegment,
    };

    private enum NameRule { Dns1123Subdomain, Dns1123Label, Dns1035Label, PathSegment }

    /// <summary>Validates, prunes and defaults <paramref name="obj"/> in place; throws 422 Invalid on failure.</summary>
    public static void Validate(ResourceType type, JsonObject obj)
    {
        var metadata = JsonTree.Obj(obj, "metadata");
        var name = JsonTree.Str(metadata["name"]) ?? "";
        var errors = new List<FieldError>();
        ValidateMetadata(type, metadata, name, errors);

        if (type.IsCustom)
        {
            var version = JsonTree.Str(obj["apiVersion"])?.Split('/').LastOrDefault() ?? type.PreferredVersion;
            if (type.SchemaFor(version) is { } schema)
                errors.AddRange(SchemaValidator.ValidateResource(obj, schema));
        }
        else
        {
            if (type.OpenApiDefinition is { } definition)
            {
                var decoded = OpenApiSchemaWalker.Decode(obj, definition, removeUnknown: true);
                if (decoded.DecodeError is { } decodeError)
                    throw ApiException.CannotBeHandled(type, type.PreferredVersion, decodeError);
                errors.AddRange(decoded.Errors);
            }
            ValidateBuiltIn(type, obj, errors);
        }

        if (errors.Count > 0) throw ApiException.Invalid(type, name, errors);
    }

    private static void ValidateMetadata(ResourceType type, JsonObject metadata, string name, List<FieldError> errors)
    {
        // The apiserver drops unknown ObjectMeta fields while decoding, like pruning does for the rest of the object.
        foreach (var key in metadata.Select(p => p.Key).Where(k => !ObjectMetaFields.Contains(k)).ToList())
            metadata.Remove(key);

        if (name.Length == 0)
            errors.Add(FieldError.Required("metadata.name", "name or generateName is required"));
        else
            errors.AddRange(NameErrors(type.IsCustom ? NameRule.Dns1123Subdomain : BuiltInNameRules.GetValueOrDefault(type.Kind), name));

        if (metadata["labels"] is JsonObject labels)
            foreach (var (key, value) in labels)
            {
                var text = JsonTree.Str(value);
                if (text is null || text.Length > 63 || !LabelValue().IsMatch(text))
                    errors.Add(FieldError.Invalid($"metadata.labels", value, LabelValueRule));
                if (key.Length == 0 || key.Length > 317)
                    errors.Add(FieldError.Invalid("metadata.labels", key, "name part must be non-empty"));
            }
    }

    /// <summary>k8s.io/apimachinery/pkg/util/validation: IsDNS1123Subdomain, IsDNS1123Label, IsDNS1035Label and
    /// path.IsValidPathSegmentName, each message as it words it.</summary>
    private static IEnumerable<FieldError> NameErrors(NameRule rule, string name)
    {
        var value = JsonValue.Create(name);
        switch (rule)
        {
            case NameRule.PathSegment:
                if (name is "." or "..") yield return FieldError.Invalid("metadata.name", value, $"may not be '{name}'");
                foreach (var illegal in new[] { "/", "%" })
                    if (name.Contains(illegal, StringComparison.Ordinal))
                        yield return FieldError.Invalid("metadata.name", value, $"may not contain '{illegal}'");
                yield break;
            case NameRule.Dns1123Subdomain:
                if (name.Length > 253) yield return FieldError.Invalid("metadata.name", value, "must be no more than 253 characters");
                if (!DnsSubdomain().IsMatch(name)) yield return FieldError.Invalid("metadata.name", value, Rfc1123Subdomain);
                yield break;
            default:
                if (name.Length > 63) yield return FieldError.Invalid("metadata.name", value, "must be no more than 63 characters");
                if (rule == NameRule.Dns1035Label ? !Dns1035().IsMatch(name) : !DnsLabel().IsMatch(name))
                    yield return FieldError.Invalid("metadata.name", value, rule == NameRule.Dns1035Label ? Rfc1035Label : Rfc1123Label);
                yield break;
        }
    }

    private static void ValidateBuiltIn(ResourceType type, JsonObject obj, List<FieldError> errors)
    {
        switch (type.Kind)
        {
            case "Pod":
                ValidateContainers(obj["spec"]?["containers"], "spec.containers", errors);
                break;
            case "Deployment":
                if (obj["spec"]?["selector"] is not JsonObject selector)
                    errors.Add(FieldError.Required("spec.selector"));
                else if (selector["matchLabels"] is JsonObject match)
                {
                    var templateLabels = obj["spec"]?["template"]?["metadata"]?["labels"] as JsonObject;
                    if (match.Any(p => !JsonTree.DeepEquals(templateLabels?[p.Key], p.Value)))
                        errors.Add(FieldError.Invalid("spec.template.metadata.labels", templateLabels, "`selector` does not match template `labels`"));
                }
                if (obj["spec"]?["template"] is not JsonObject)
                    errors.Add(FieldError.Required("spec.template"));
                else
                    ValidateContainers(obj["spec"]?["template"]?["spec"]?["containers"], "spec.template.spec.containers", errors);
                break;
            case "Service":
                if (obj["spec"]?["ports"] is JsonArray ports)
                    for (var i = 0; i < ports.Count; i++)
                        if (JsonTree.Long(ports[i]?["port"]) is not (> 0 and < 65536))
                            errors.Add(FieldError.Invalid($"spec.ports[{i}].port", ports[i]?["port"], "must be between 1 and 65535, inclusive"));
                break;
        }
    }

    private static void ValidateContainers(JsonNode? containers, string path, List<FieldError> errors)
    {
        if (containers is not JsonArray list || list.Count == 0)
        {
            errors.Add(FieldError.Required(path));
            return;
        }
        for (var i = 0; i < list.Count; i++)
        {
            if (JsonTree.Str(list[i]?["name"]) is not { Length: > 0 })
                errors.Add(FieldError.Required($"{path}[{i}].name"));
            if (JsonTree.Str(list[i]?["image"]) is not { Length: > 0 })
                errors.Add(FieldError.Required($"{path}[{i}].image"));
        }
    }

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?\\z")]
    private static partial Regex DnsLabel();

    [GeneratedRegex("^[a-z]([-a-z0-9]*[a-z0-9])?\\z")]
    private static partial Regex Dns1035();

    [GeneratedRegex(@"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\z")]
    private static partial Regex DnsSubdomain();

    [GeneratedRegex("^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?\\z")]
    private static partial Regex LabelValue();
}
