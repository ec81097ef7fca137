using System.Text.Json.Nodes;
using KubeEmulator.Api;
using KubeEmulator.Resources;
using KubeEmulator.Validation;

namespace KubeEmulator.Http;

/// <summary>
/// The options of a write (CreateOptions, UpdateOptions, PatchOptions, DeleteOptions' dryRun): parsed and validated
/// as k8s.io/apimachinery/pkg/apis/meta/v1/validation does, so a bad directive is refused before anything is written.
/// </summary>
internal sealed class WriteOptions
{
    public const string Ignore = "Ignore";
    public const string Warn = "Warn";
    public const string Strict = "Strict";

    private WriteOptions(bool dryRun, string fieldValidation, string? fieldManager, bool force)
    {
        DryRun = dryRun;
        FieldValidation = fieldValidation;
        FieldManager = fieldManager;
        Force = force;
    }

    public bool DryRun { get; }
    /// <summary>Ignore, Warn or Strict; the apiserver's default when the client sends none is Warn.</summary>
    public string FieldValidation { get; }
    public string? FieldManager { get; }
    /// <summary>Server-side apply only: take over fields other managers own instead of answering 409.</summary>
    public bool Force { get; }

    /// <param name="optionsKind">CreateOptions, UpdateOptions, PatchOptions or DeleteOptions (named in errors).</param>
    public static WriteOptions Parse(HttpRequest request, string optionsKind, bool isApply = false)
    {
        var errors = new List<FieldError>();
        var dryRun = request.Query["dryRun"].Select(v => v ?? "").ToList();
        if (dryRun.Any(v => v != "All"))
            errors.Add(new FieldError("FieldValueNotSupported", "dryRun",
                $"Unsupported value: []string{{{string.Join(", ", dryRun.Select(v => $"\"{v}\""))}}}: supported values: \"All\""));

        var fieldValidation = QueryParams.String(request, "fieldValidation") ?? "";
        if (optionsKind != "DeleteOptions" && fieldValidation is not ("" or Ignore or Warn or Strict))
            errors.Add(FieldError.NotSupported("fieldValidation", JsonValue.Create(fieldValidation), [JsonValue.Create(Ignore), JsonValue.Create(Strict), JsonValue.Create(Warn)]));

        var fieldManager = QueryParams.String(request, "fieldManager");
        if (fieldManager is { Length: > 128 })
            errors.Add(FieldError.TooLong("fieldManager", 128));
        else if (fieldManager is not null && fieldManager.Any(char.IsControl))
            errors.Add(FieldError.Invalid("fieldManager", JsonValue.Create(fieldManager), "may not contain non-printable characters"));
        if (isApply && string.IsNullOrEmpty(fieldManager))
            errors.Add(FieldError.Required("fieldManager", "is required for apply requests"));

        var force = QueryParams.Bool(request, "force");
        if (force && !isApply && request.Query.ContainsKey("force"))
            errors.Add(new FieldError("FieldValueForbidden", "force", "Forbidden: may not be specified for non-apply patch"));

        if (errors.Count > 0) throw ApiException.InvalidOptions(optionsKind, errors);
        return new WriteOptions(dryRun.Count > 0, fieldValidation.Length == 0 ? Warn : fieldValidation, fieldManager, force);
    }

    /// <summary>
    /// Applies the fieldValidation directive to the object about to be decoded: Strict refuses unknown fields with
    /// the decoder's message, Warn reports each in a <c>Warning</c> header, Ignore drops them silently (they are
    /// dropped in every case when the object is stored).
    /// </summary>
    public void CheckUnknownFields(HttpContext ctx, ResourceType type, string version, JsonObject obj)
    {
        if (FieldValidation == Ignore) return;
        var unknown = UnknownFields.Of(type, version, obj);
        if (unknown.Count == 0) return;
        if (FieldValidation == Strict)
            throw ApiException.CannotBeHandled(type, version,
                "strict decoding error: " + string.Join(", ", unknown.Select(f => $"unknown field \"{f}\"")));
        foreach (var field in unknown)
            ctx.Response.Headers.Append("Warning", $"299 - \"unknown field \\\"{field}\\\"\"");
    }
}
