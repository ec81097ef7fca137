using System.Text.Json.Nodes;
using KubeEmulator.Json;

namespace KubeEmulator.Controller;

/// <summary>What the simulated controller and model server need to know about an InferenceService.</summary>
internal sealed record InferenceServiceInfo(string Namespace, string Name, string Uid, long Generation, string Framework, string? StorageUri, int Replicas)
{
    public const string IsvcLabel = "serving.kserve.io/inferenceservice";

    private static readonly string[] Frameworks =
        ["sklearn", "xgboost", "lightgbm", "tensorflow", "pytorch", "triton", "onnx", "pmml", "paddle", "huggingface"];

    public string PredictorName => $"{Name}-predictor";

    public string RuntimeName => $"kserve-{Framework}server";

    public static InferenceServiceInfo From(JsonObject isvc)
    {
        var meta = isvc["metadata"]!;
        var predictor = isvc["spec"]?["predictor"] as JsonObject ?? new JsonObject();
        var framework = Frameworks.FirstOrDefault(f => predictor[f] is JsonObject)
            ?? JsonTree.Str(predictor["model"]?["modelFormat"]?["name"])?.ToLowerInvariant()
            ?? "custom";
        var component = predictor[framework] as JsonObject ?? predictor["model"] as JsonObject;
        return new InferenceServiceInfo(
            JsonTree.Str(meta["namespace"])!,
            JsonTree.Str(meta["name"])!,
            JsonTree.Str(meta["uid"])!,
            JsonTree.Long(meta["generation"]) ?? 1,
            framework,
            JsonTree.Str(component?["storageUri"]),
            (int)Math.Max(0, JsonTree.Long(predictor["minReplicas"]) ?? 1));
    }

    public static bool IsReady(JsonObject isvc) =>
        isvc["status"]?["conditions"] is JsonArray conditions
        && conditions.Any(c => JsonTree.Str(c?["type"]) == "Ready" && JsonTree.Str(c?["status"]) == "True");
}
