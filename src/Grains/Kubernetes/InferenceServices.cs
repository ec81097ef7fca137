using System.Text.Json;
using System.Text.Json.Nodes;
using Inference.Grains.Abstractions.Models;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Inference.Shared.Kubernetes;

namespace Inference.Grains.Kubernetes;

/// <summary>The KServe InferenceServices this service manages, through the API server.</summary>
public interface IInferenceServices
{
    Task<InferenceServiceSnapshot> CreateAsync(string ns, string name, ModelSpec spec);

    Task<InferenceServiceSnapshot> UpdateAsync(string ns, string name, ModelSpec spec);

    /// <summary>Deletes the InferenceService; one that is already gone counts as deleted.</summary>
    Task DeleteAsync(string ns, string name);
}

public sealed class InferenceServices(IKubernetes client, IOptions<KubernetesOptions> options, ILogger<InferenceServices> logger) : IInferenceServices
{
    public const string Group = "serving.kserve.io";
    public const string Version = "v1beta1";
    public const string Plural = "inferenceservices";

    private readonly KubernetesOptions _options = options.Value;

    public async Task<InferenceServiceSnapshot> CreateAsync(string ns, string name, ModelSpec spec)
    {
        var body = new JsonObject
        {
            ["apiVersion"] = $"{Group}/{Version}",
            ["kind"] = "InferenceService",
            ["metadata"] = new JsonObject
            {
                ["name"] = name,
                ["namespace"] = ns,
                ["labels"] = new JsonObject
                {
                    [_options.ManagedByLabel] = _options.ManagedByValue,
                    [_options.TenantLabel] = ns,
                },
            },
            ["spec"] = new JsonObject { ["predictor"] = Predictor(spec) },
        };
        var created = await KubernetesErrors.Call(
            ct => client.CustomObjects.CreateNamespacedCustomObjectAsync(body, Group, Version, ns, Plural, cancellationToken: ct),
            "Failed to create model", _options.RequestTimeout, logger);
        return InferenceServiceParser.Parse(ToElement(created));
    }

    public async Task<InferenceServiceSnapshot> UpdateAsync(string ns, string name, ModelSpec spec)
    {
        // A merge patch replaces only what we own, so labels or annotations others added survive;
        // explicit nulls remove optional scaling fields the caller cleared.
        var patch = new JsonObject { ["spec"] = new JsonObject { ["predictor"] = Predictor(spec, explicitNulls: true) } };
        var patched = await KubernetesErrors.Call(
            ct => client.CustomObjects.PatchNamespacedCustomObjectAsync(
                new V1Patch(patch.ToJsonString(), V1Patch.PatchType.MergePatch), Group, Version, ns, Plural, name,
                cancellationToken: ct),
            "Failed to update model", _options.RequestTimeout, logger);
        return InferenceServiceParser.Parse(ToElement(patched));
    }

    public async Task DeleteAsync(string ns, string name)
    {
        try
        {
            await KubernetesErrors.Call(
                ct => client.CustomObjects.DeleteNamespacedCustomObjectAsync(Group, Version, ns, Plural, name, cancellationToken: ct),
                "Failed to delete model", _options.RequestTimeout, logger);
        }
        catch (KubernetesCallException e) when (e.IsNotFound)
        {
        }
    }

    private static JsonObject Predictor(ModelSpec spec, bool explicitNulls = false)
    {
        var predictor = new JsonObject
        {
            ["model"] = new JsonObject
            {
                ["modelFormat"] = new JsonObject { ["name"] = spec.Framework },
                ["storageUri"] = spec.StorageUri,
            },
        };
        void Set(string key, JsonNode? value)
        {
            if (value is not null || explicitNulls)
            {
                predictor[key] = value;
            }
        }
        Set("minReplicas", spec.MinReplicas);
        Set("maxReplicas", spec.MaxReplicas);
        Set("scaleTarget", spec.ScaleTarget);
        Set("scaleMetric", spec.ScaleMetric);
        return predictor;
    }

    internal static JsonElement ToElement(object value) =>
        value is JsonElement element ? element : JsonSerializer.SerializeToElement(value);
}
