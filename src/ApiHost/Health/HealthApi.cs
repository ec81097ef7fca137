using Azure.Data.Tables;
using Inference.ApiHost.Http;
using k8s;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Inference.ApiHost.Health;

/// <summary>Liveness and readiness as ASP.NET Core health checks. <c>/health</c> runs no check (the process answers);
/// <c>/ready</c> runs every check tagged <see cref="ReadyTag"/>: Azure Storage, the Kubernetes API and the Orleans
/// cluster, each bounded by <see cref="CheckTimeout"/>.</summary>
public static class HealthApi
{
    public const string ReadyTag = "ready";

    /// <summary>Each check's bound: a probe must answer before the kubelet's own timeout.</summary>
    public static readonly TimeSpan CheckTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Health checks map every method; probes read, and anything else is a 405 like on any other route.</summary>
    private static readonly Microsoft.AspNetCore.Routing.HttpMethodMetadata ProbeMethods = new([HttpMethods.Get, HttpMethods.Head]);

    public static IServiceCollection AddReadinessChecks(this IServiceCollection services)
    {
        services.AddHealthChecks()
            .AddCheck<StorageCheck>("storage", tags: [ReadyTag], timeout: CheckTimeout)
            .AddCheck<KubernetesCheck>("kubernetes", tags: [ReadyTag], timeout: CheckTimeout)
            .AddCheck<OrleansCheck>("orleans", tags: [ReadyTag], timeout: CheckTimeout);
        return services;
    }

    public static IEndpointRouteBuilder MapHealthApi(this IEndpointRouteBuilder app)
    {
        app.MapHealthChecks("/health", new HealthCheckOptions
        {
            Predicate = _ => false,
            ResponseWriter = (context, _) => context.Response.WriteAsJsonAsync(new { status = "ok" }, ApiJson.Options),
        }).AllowAnonymous().WithMetadata(ProbeMethods);
        app.MapHealthChecks("/ready", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains(ReadyTag),
            // Degraded is not used by these checks; anything but healthy keeps the pod out of the Service.
            ResultStatusCodes =
            {
                [HealthStatus.Healthy] = StatusCodes.Status200OK,
                [HealthStatus.Degraded] = StatusCodes.Status503ServiceUnavailable,
                [HealthStatus.Unhealthy] = StatusCodes.Status503ServiceUnavailable,
            },
            ResponseWriter = WriteReadiness,
        }).AllowAnonymous().WithMetadata(ProbeMethods);
        return app;
    }

    /// <summary>Says ready or not, and nothing else: which check failed, versions, addresses and error texts go to
    /// the log, not to whoever can reach an anonymous endpoint.</summary>
    private static Task WriteReadiness(HttpContext context, HealthReport report)
    {
        if (report.Status == HealthStatus.Healthy)
        {
            return context.Response.WriteAsJsonAsync(new { status = "ready" }, ApiJson.Options);
        }
        var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(HealthApi).FullName!);
        foreach (var (name, entry) in report.Entries)
        {
            if (entry.Status != HealthStatus.Healthy)
            {
                logger.LogWarning("Not ready: {Check} {Status}: {Description} {Error}", name, entry.Status, entry.Description,
                    entry.Exception?.Message);
            }
        }
        // Not ready is an error answer like any other: the contract's shape, with Retry-After.
        return ApiResults.WriteErrorAsync(context, StatusCodes.Status503ServiceUnavailable, "Service temporarily unavailable",
            "Not ready; retry shortly");
    }

    /// <summary>Azure Storage answers: one page of at most one table name from the account the cluster state, the
    /// audit trail and (in cluster mode) membership live in.</summary>
    public sealed class StorageCheck(Silo.ClusterSettings settings) : IHealthCheck
    {
        private readonly TableServiceClient _tables = new(settings.StorageConnectionString,
            new TableClientOptions { Retry = { MaxRetries = 0 } });

        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct)
        {
            await foreach (var _ in _tables.QueryAsync(maxPerPage: 1, cancellationToken: ct).AsPages(pageSizeHint: 1).WithCancellation(ct))
            {
                break;
            }
            return HealthCheckResult.Healthy();
        }
    }

    /// <summary>The Kubernetes API server answers its version endpoint (no RBAC needed).</summary>
    private sealed class KubernetesCheck(IKubernetes kubernetes) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct)
        {
            await kubernetes.Version.GetCodeAsync(ct);
            return HealthCheckResult.Healthy();
        }
    }

    /// <summary>The Orleans cluster answers a grain call: the membership's active silos, from a system grain that
    /// every silo hosts.</summary>
    private sealed class OrleansCheck(IClusterClient cluster) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct)
        {
            var hosts = await cluster.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true).WaitAsync(ct);
            return hosts.Count > 0 ? HealthCheckResult.Healthy() : HealthCheckResult.Unhealthy("no active silo");
        }
    }
}
