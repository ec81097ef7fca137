using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Inference.Silo;

/// <summary>Ready while this silo is an active member of the cluster: not while it joins, shuts down or has been
/// declared dead, so Kubernetes (rolling updates, PodDisruptionBudgets) counts only silos that host grains.</summary>
public sealed class SiloReadiness(IClusterMembershipService membership, ILocalSiloDetails silo) : IHealthCheck
{
    public const string Tag = "ready";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var status = membership.CurrentSnapshot.GetSiloStatus(silo.SiloAddress);
        return Task.FromResult(status == SiloStatus.Active
            ? HealthCheckResult.Healthy()
            : HealthCheckResult.Unhealthy($"silo is {status}"));
    }
}
