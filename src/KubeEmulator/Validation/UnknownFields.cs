using System.Text.Json.Nodes;
using KubeEmulator.Resources;

namespace KubeEmulator.Validation;

/// <summary>
/// The fields of a request object that the apiserver would drop while decoding it: undeclared fields of a built-in
/// kind's Go types, and fields a CRD's structural schema prunes. What happens to them is the request's
/// <c>fieldValidation</c> directive (see Http/WriteOptions).
/// </summary>
internal static class UnknownFields
{
    public static List<string> Of(ResourceType type, string version, JsonObject obj)
    {
        if (type.OpenApiDefinition is { } definition)
            return OpenApiSchemaWalker.Decode(obj, definition, removeUnknown: false).UnknownFields;
        var unknown = OpenApiSchemaWalker.UnknownMetadataFields(obj);
        if (type.SchemaFor(version) is { } schema) unknown.AddRange(SchemaValidator.UnknownFields(obj, schema));
        return unknown;
    }
}
