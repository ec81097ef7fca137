using Inference.ApiHost.Http;
using Inference.Grains.Abstractions.Models;

namespace Inference.ApiHost.Models;

public sealed record CreateModelRequest(
    string? Name, string? Framework, string? StorageUri, int? MinReplicas, int? MaxReplicas, int? ScaleTarget,
    string? ScaleMetric, string? Namespace) : INamespacedRequest
{
    string? INamespacedRequest.RequestedNamespace => Namespace;

    public ModelSpec ToSpec() => new(Framework ?? "", StorageUri ?? "", MinReplicas, MaxReplicas, ScaleTarget, ScaleMetric);
}

public sealed record UpdateModelRequest(
    string? Framework, string? StorageUri, int? MinReplicas, int? MaxReplicas, int? ScaleTarget, string? ScaleMetric,
    string? Namespace) : INamespacedRequest, IValidatedRequest
{
    string? INamespacedRequest.RequestedNamespace => Namespace;

    public ModelSpecPatch ToPatch() => new(Framework, StorageUri, MinReplicas, MaxReplicas, ScaleTarget, ScaleMetric);

    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsEmpty => ToPatch() == new ModelSpecPatch();

    public string? Problem() => IsEmpty
        ? "Nothing to update: give at least one of framework, storageUri, minReplicas, maxReplicas, scaleTarget, scaleMetric"
        : null;
}

public sealed record ModelConfig(string Framework, string StorageUri, int? MinReplicas, int? MaxReplicas, int? ScaleTarget, string? ScaleMetric)
{
    public static ModelConfig From(ModelSpec s) => new(s.Framework, s.StorageUri, s.MinReplicas, s.MaxReplicas, s.ScaleTarget, s.ScaleMetric);
}

public sealed record StatusDetails(bool Ready, string Phase, ReplicaCounts Replicas, IReadOnlyList<ModelCondition> Conditions);

/// <summary>A model as the contract shows it.</summary>
public sealed record ModelResponse(
    string Name, string Namespace, string Status, bool Ready, string? Url, ModelConfig Predictor,
    DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, StatusDetails StatusDetails)
{
    public static ModelResponse From(ModelView v) => new(v.Name, v.Namespace, v.Status, v.Ready, v.Url,
        ModelConfig.From(v.Predictor), v.CreatedAt, v.UpdatedAt, new StatusDetails(v.Ready, v.Phase, v.Replicas, v.Conditions));
}

/// <summary><see cref="Total"/> counts the models in this answer; <see cref="Continue"/> (only when paged and more
/// may follow) reads the next page.</summary>
public sealed record ModelListResponse(IReadOnlyList<ModelResponse> Models, int Total, string? Continue = null);

public sealed record ModelChangeResponse(string Message, string Name, string Namespace, ModelConfig Config, ModelResponse Model);

public sealed record MessageResponse(string Message);
