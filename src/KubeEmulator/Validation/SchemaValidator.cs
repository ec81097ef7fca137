using System.Globalization;
using System.Text.Json.Nodes;
using KubeEmulator.Api;
using KubeEmulator.Json;

namespace KubeEmulator.Validation;

/// <summary>
/// Applies a CRD structural schema the way the apiextensions apiserver does: prune unknown fields, drop non-nullable
/// nulls, apply defaults, then validate. Messages follow kube-openapi's wording as converted to field errors by
/// apiextensions (e.g. <c>spec.x in body must be of type integer: "string"</c>).
/// <c>x-kubernetes-validations</c> (CEL) rules are deliberately not evaluated.
/// </summary>
internal static class SchemaValidator
{
    private static readonly HashSet<string> EmbeddedKeys = ["apiVersion", "kind", "metadata"];

    /// <summary>Validates a whole custom resource; metadata is checked separately (as ObjectMeta), not by the CRD schema.</summary>
    public static List<FieldError> ValidateResource(JsonObject obj, StructuralSchema root)
    {
        var errors = new List<FieldError>();
        WalkObject(obj, root, "", errors, mutate: true, keepEmbeddedKeys: true);
        return errors;
    }

    /// <summary>The fields pruning would drop from <paramref name="obj"/> (without dropping them): what strict field
    /// validation reports as unknown.</summary>
    public static List<string> UnknownFields(JsonObject obj, StructuralSchema root)
    {
        var unknown = new List<string>();
        CollectUnknown(obj, root, "", unknown, keepEmbeddedKeys: true);
        return unknown;
    }

    private static void CollectUnknown(JsonNode? value, StructuralSchema s, string path, List<string> unknown, bool keepEmbeddedKeys)
    {
        switch (value)
        {
            case JsonObject obj:
                foreach (var (name, child) in obj)
                {
                    if (keepEmbeddedKeys && EmbeddedKeys.Contains(name) && s.Properties?.ContainsKey(name) != true) continue;
                    // The root metadata is ObjectMeta, checked against its own definition.
                    if (path == "" && name == "metadata") continue;
                    if (s.Properties is not null && s.Properties.TryGetValue(name, out var propSchema))
                        CollectUnknown(child, propSchema, Child(path, name), unknown, propSchema.EmbeddedResource);
                    else if (s.AdditionalProperties is not null)
                        CollectUnknown(child, s.AdditionalProperties, Child(path, name), unknown, s.AdditionalProperties.EmbeddedResource);
                    else if (s.PrunesUnknownFields)
                        unknown.Add(Child(path, name));
                }
                break;
            case JsonArray arr when s.Items is not null:
                for (var i = 0; i < arr.Count; i++)
                    CollectUnknown(arr[i], s.Items, $"{path}[{i}]", unknown, s.Items.EmbeddedResource);
                break;
        }
    }

    private static void Walk(JsonNode? value, StructuralSchema s, string path, List<FieldError> errors, bool mutate)
    {
        if (value is null)
        {
            if (!s.Nullable && s.Type is not null)
                errors.Add(FieldError.TypeInvalid(path, "null", $"{path} in body must be of type {s.Type}: \"null\""));
            return;
        }
        if (!CheckType(value, s, path, errors)) return;
        if (s.Enum is not null && !s.Enum.Any(e => JsonTree.DeepEquals(e, value)))
            errors.Add(FieldError.NotSupported(path, value, s.Enum));

        switch (value)
        {
            case JsonObject obj:
                WalkObject(obj, s, path, errors, mutate, s.EmbeddedResource);
                break;
            case JsonArray arr:
                WalkArray(arr, s, path, errors, mutate);
                break;
            case JsonValue v when v.GetValueKind() == System.Text.Json.JsonValueKind.String:
                CheckString(v.GetValue<string>(), s, path, errors);
                break;
            case JsonValue v when v.GetValueKind() == System.Text.Json.JsonValueKind.Number:
                CheckNumber(v, s, path, errors);
                break;
        }
        CheckCombinators(value, s, path, errors);
    }

    private static bool CheckType(JsonNode value, StructuralSchema s, string path, List<FieldError> errors)
    {
        var actual = JsonTree.TypeName(value);
        if (s.IntOrString)
        {
            if (actual is "integer" or "string") return true;
            errors.Add(FieldError.TypeInvalid(path, actual, $"{path} in body must be of type integer,string: \"{actual}\""));
            return false;
        }
        if (s.Type is null || s.Type == actual || (s.Type == "number" && actual == "integer")) return true;
        errors.Add(FieldError.TypeInvalid(path, actual, $"{path} in body must be of type {s.Type}: \"{actual}\""));
        return false;
    }

    private static void WalkObject(JsonObject obj, StructuralSchema s, string path, List<FieldError> errors, bool mutate, bool keepEmbeddedKeys)
    {
        if (mutate && s.PrunesUnknownFields)
        {
            foreach (var key in obj.Select(p => p.Key).ToList())
            {
                var known = s.Properties?.ContainsKey(key) == true || (keepEmbeddedKeys && EmbeddedKeys.Contains(key));
                if (!known) obj.Remove(key);
            }
        }

        if (s.Properties is not null)
        {
            foreach (var (name, child) in s.Properties)
            {
                if (mutate && obj.ContainsKey(name) && obj[name] is null && !child.Nullable)
                    obj.Remove(name);
                if (mutate && !obj.ContainsKey(name) && child.Default is not null)
                    obj[name] = child.Default.DeepClone();
            }
        }

        foreach (var name in s.Required)
            if (!obj.ContainsKey(name))
                errors.Add(FieldError.Required(Child(path, name)));

        if (s.MinProperties is { } minP && obj.Count < minP)
            errors.Add(FieldError.Invalid(path, obj, $"{path} in body should have at least {minP} properties"));
        if (s.MaxProperties is { } maxP && obj.Count > maxP)
            errors.Add(FieldError.TooMany(path, obj.Count, maxP));

        foreach (var (name, child) in obj.ToList())
        {
            // Root metadata and embedded ObjectMeta are validated as ObjectMeta, not by the schema.
            if (keepEmbeddedKeys && EmbeddedKeys.Contains(name) && s.Properties?.ContainsKey(name) != true) continue;
            if (path == "" && name == "metadata") continue;
            if (s.Properties is not null && s.Properties.TryGetValue(name, out var propSchema))
                Walk(child, propSchema, Child(path, name), errors, mutate);
            else if (s.AdditionalProperties is not null)
                Walk(child, s.AdditionalProperties, Child(path, name), errors, mutate);
        }
    }

    private static void WalkArray(JsonArray arr, StructuralSchema s, string path, List<FieldError> errors, bool mutate)
    {
        if (s.MinItems is { } min && arr.Count < min)
            errors.Add(FieldError.Invalid(path, arr, $"{path} in body should have at least {min} items"));
        if (s.MaxItems is { } max && arr.Count > max)
            errors.Add(FieldError.TooMany(path, arr.Count, max));
        if (s.Items is null) return;
        for (var i = 0; i < arr.Count; i++)
            Walk(arr[i], s.Items, $"{path}[{i}]", errors, mutate);
    }

    private static void CheckString(string text, StructuralSchema s, string path, List<FieldError> errors)
    {
        var length = text.EnumerateRunes().Count();
        if (s.MinLength is { } min && length < min)
            errors.Add(FieldError.Invalid(path, text, $"{path} in body should be at least {min} chars long"));
        if (s.MaxLength is { } max && length > max)
            errors.Add(FieldError.TooLong(path, max));
        if (s.Pattern is { } pattern && !pattern.IsMatch(text))
            errors.Add(FieldError.Invalid(path, text, $"{path} in body should match '{pattern}'"));
        if (s.Format == "date-time" && !DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out _))
            errors.Add(FieldError.Invalid(path, text, $"{path} in body must be of type date-time: \"{text}\""));
    }

    private static void CheckNumber(JsonValue v, StructuralSchema s, string path, List<FieldError> errors)
    {
        var n = JsonTree.Number(v);
        if (s.Minimum is { } min && (s.ExclusiveMinimum ? n <= min : n < min))
            errors.Add(FieldError.Invalid(path, v, $"{path} in body should be greater than {(s.ExclusiveMinimum ? "" : "or equal to ")}{Fmt(min)}"));
        if (s.Maximum is { } max && (s.ExclusiveMaximum ? n >= max : n > max))
            errors.Add(FieldError.Invalid(path, v, $"{path} in body should be less than {(s.ExclusiveMaximum ? "" : "or equal to ")}{Fmt(max)}"));
        if (s.Format == "int32" && (n < int.MinValue || n > int.MaxValue))
            errors.Add(FieldError.Invalid(path, v, $"{path} in body must be of type int32: \"{v.ToJsonString()}\""));
    }

    private static void CheckCombinators(JsonNode value, StructuralSchema s, string path, List<FieldError> errors)
    {
        if (s.AllOf is not null)
            foreach (var branch in s.AllOf)
                Walk(value, branch, path, errors, mutate: false);
        if (s.AnyOf is not null && !s.AnyOf.Any(b => Passes(value, b, path)))
            errors.Add(FieldError.Invalid(path, value, $"{path} in body must validate at least one schema (anyOf)"));
        if (s.OneOf is not null && s.OneOf.Count(b => Passes(value, b, path)) != 1)
            errors.Add(FieldError.Invalid(path, value, $"{path} in body must validate one and only one schema (oneOf)"));
        if (s.Not is not null && Passes(value, s.Not, path))
            errors.Add(FieldError.Invalid(path, value, $"{path} in body must not validate the schema (not)"));
    }

    private static bool Passes(JsonNode value, StructuralSchema branch, string path)
    {
        var branchErrors = new List<FieldError>();
        Walk(value, branch, path, branchErrors, mutate: false);
        return branchErrors.Count == 0;
    }

    private static string Child(string path, string name) => path.Length == 0 ? name : $"{path}.{name}";

    private static string Fmt(double d) => d.ToString(CultureInfo.InvariantCulture);
}
