using KubeEmulator.Json;
using System.Text.Json.Nodes;

namespace KubeEmulator.Api;

/// <summary>One validation failure, mirroring k8s.io/apimachinery/pkg/util/validation/field.Error.</summary>
internal sealed record FieldError(string Reason, string Field, string Detail)
{
    public override string ToString() => $"{Field}: {Detail}";

    public static FieldError Required(string field, string? why = null) =>
        new("FieldValueRequired", field, why is null ? "Required value" : $"Required value: {why}");

    public static FieldError Invalid(string field, JsonNode? value, string why) =>
        new("FieldValueInvalid", field, $"Invalid value: {JsonTree.Render(value)}: {why}");

    public static FieldError TypeInvalid(string field, string actualType, string why) =>
        new("FieldValueTypeInvalid", field, $"Invalid value: \"{actualType}\": {why}");

    public static FieldError NotSupported(string field, JsonNode? value, IEnumerable<JsonNode?> supported) =>
        new("FieldValueNotSupported", field,
            $"Unsupported value: {JsonTree.Render(value)}: supported values: {string.Join(", ", supported.Select(JsonTree.Render))}");

    public static FieldError TooLong(string field, long max) =>
        new("FieldValueTooLong", field, $"Too long: may not be more than {max} bytes");

    public static FieldError TooMany(string field, long actual, long max) =>
        new("FieldValueTooMany", field, $"Too many: {actual}: must have at most {max} items");
}
