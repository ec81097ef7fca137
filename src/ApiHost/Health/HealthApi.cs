using Inference.ApiHost.Http;
using k8s;

namespace Inference.ApiHost.Health;

public static class HealthApi
{
    public static IEndpointRouteBuilder MapHealthApi(this IEndpointRouteBuilder app)
    {
        // Liveness: the process answers. Readiness: it can reach both the silo cluster and Kubernetes.
        app.MapGet("/health", () => Results.Json(new { status = "ok" }, ApiJson.Options)).AllowAnonymous();
        app.MapGet("/ready", Ready).AllowAnonymous();
        return app;
    }

    /// <summary>Says ready or not, and nothing else: versions, addresses and error texts go to the log, not to
    /// whoever can reach an anonymous endpoint.</summary>
    private static async Task<IResult> Ready(IKubernetes kubernetes, IClusterClient cluster, ILogger<IKubernetes> logger, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        var ready = true;
        try
        {
            await kubernetes.Version.GetCodeAsync(timeout.Token);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            ready = false;
            logger.LogWarning("Not ready: Kubernetes API unreachable: {Message}", e.Message);
        }
        try
        {
            await cluster.GetGrain<Grains.Abstractions.Tenants.ITenantDirectoryGrain>(0).ListAsync().WaitAsync(timeout.Token);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            ready = false;
            logger.LogWarning("Not ready: Orleans cluster unavailable: {Message}", e.Message);
        }
        // Not ready is an error answer like any other: the contract's shape, with Retry-After.
        return ready ? Results.Json(new { status = "ready" }, ApiJson.Options) : ApiResults.Unavailable("Not ready");
    }
}
