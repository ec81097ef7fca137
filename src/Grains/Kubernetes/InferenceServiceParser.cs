using System.Text.Json;
using Inference.Grains.Abstractions.Models;

namespace Inference.Grains.Kubernetes;

/// <summary>Reads what the service needs out of an InferenceService object as the API server returns it.</summary>
public static class InferenceServiceParser
{
    // Older manifests name the framework as the predictor's key (predictor.sklearn.storageUri) instead of
    // predictor.model.modelFormat; both are valid KServe, and models created by hand may use either.
    private static readonly string[] LegacyFrameworkKeys =
        ["sklearn", "xgboost", "tensorflow", "pytorch", "onnx", "triton", "lightgbm", "paddle", "pmml", "huggingface"];

    public static InferenceServiceSnapshot Parse(JsonElement isvc)
    {
        var metadata = isvc.GetProperty("metadata");
        var uid = String(metadata, "uid") ?? "";
        var created = DateTimeOffset.TryParse(String(metadata, "creationTimestamp"), out var c) ? c : DateTimeOffset.UtcNow;
        var generation = metadata.TryGetProperty("generation", out var g) && g.TryGetInt64(out var gen) ? gen : 0;
        var deleting = metadata.TryGetProperty("deletionTimestamp", out var d) && d.ValueKind == JsonValueKind.String;
        var predictor = isvc.TryGetProperty("spec", out var spec) && spec.TryGetProperty("predictor", out var p) ? p : default;
        return new InferenceServiceSnapshot(uid, ParseSpec(predictor), ParseStatus(isvc, String(metadata, "resourceVersion")),
            created, generation) { Deleting = deleting };
    }

    private static ModelSpec ParseSpec(JsonElement predictor)
    {
        if (predictor.ValueKind != JsonValueKind.Object)
        {
            return new ModelSpec("", "");
        }
        string framework = "", storageUri = "";
        if (predictor.TryGetProperty("model", out var model) && model.ValueKind == JsonValueKind.Object)
        {
            framework = model.TryGetProperty("modelFormat", out var format) ? String(format, "name") ?? "" : "";
            storageUri = String(model, "storageUri") ?? "";
        }
        else if (LegacyFrameworkKeys.FirstOrDefault(k => predictor.TryGetProperty(k, out _)) is { } key)
        {
            framework = key;
            storageUri = String(predictor.GetProperty(key), "storageUri") ?? "";
        }
        return new ModelSpec(framework, storageUri, Int(predictor, "minReplicas"), Int(predictor, "maxReplicas"),
            Int(predictor, "scaleTarget"), String(predictor, "scaleMetric"));
    }

    private static ObservedStatus ParseStatus(JsonElement isvc, string? resourceVersion)
    {
        if (!isvc.TryGetProperty("status", out var status) || status.ValueKind != JsonValueKind.Object)
        {
            return ObservedStatus.Pending with { ResourceVersion = resourceVersion };
        }
        var conditions = new List<ModelCondition>();
        if (status.TryGetProperty("conditions", out var list) && list.ValueKind == JsonValueKind.Array)
        {
            foreach (var condition in list.EnumerateArray())
            {
                conditions.Add(new ModelCondition(
                    String(condition, "type") ?? "",
                    String(condition, "status") ?? "Unknown",
                    String(condition, "reason"),
                    String(condition, "message"),
                    DateTimeOffset.TryParse(String(condition, "lastTransitionTime"), out var t) ? t : null));
            }
        }
        var ready = conditions.Any(c => c.Type == "Ready" && c.Status == "True");
        var url = String(status, "url")
            ?? (status.TryGetProperty("address", out var address) ? String(address, "url") : null);
        long? observed = status.TryGetProperty("observedGeneration", out var og) && og.TryGetInt64(out var o) ? o : null;
        return new ObservedStatus(ready, url, conditions, resourceVersion, observed);
    }

    private static string? String(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
            ? v.GetString()
            : null;

    private static int? Int(JsonElement element, string name) =>
        element.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i : null;
}
