using Inference.Grains.Abstractions.Models;

namespace Inference.Grains.Tenants;

/// <summary>What one tenant may hold at most; enforced by its Tenant grain, whose turns serialise every create.</summary>
public sealed class TenantQuotaOptions
{
    public const string Section = "TenantQuotas";

    public int MaxModels { get; set; } = 100;

    public int MaxPublications { get; set; } = 100;

    /// <summary>Bound on the sum of the tenant's models' replica ceilings (see <see cref="ReplicasOf"/>).</summary>
    public int MaxReplicas { get; set; } = 200;

    public string? Problem() =>
        MaxModels < 1 ? $"{Section}__MaxModels must be at least 1."
        : MaxPublications < 1 ? $"{Section}__MaxPublications must be at least 1."
        : MaxReplicas < 1 ? $"{Section}__MaxReplicas must be at least 1."
        : null;

    /// <summary>What a model counts against the replica quota: its maxReplicas, or when it sets none, the replicas
    /// it asks for (minReplicas, at least 1).</summary>
    public static int ReplicasOf(ModelSpec spec) => spec.MaxReplicas ?? Math.Max(spec.MinReplicas ?? 1, 1);
}
