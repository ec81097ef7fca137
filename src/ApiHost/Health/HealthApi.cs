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

    private static async Task<IResult> Ready(IKubernetes kubernetes, IClusterClient cluster, CancellationToken ct)
    {
        var checks = new Dictionary<string, string>();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        try
        {
            var version = await kubernetes.Version.GetCodeAsync(timeout.Token);
            checks["kubernetes"] = $"ok ({version.GitVersion})";
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            checks["kubernetes"] = $"unreachable: {e.Message}";
        }
        try
        {
            await cluster.GetGrain<Grains.Abstractions.Tenants.ITenantDirectoryGrain>(0).ListAsync().WaitAsync(timeout.Token);
            checks["orleans"] = "ok";
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            checks["orleans"] = $"unavailable: {e.Message}";
        }
        var ready = checks.Values.All(v => v.StartsWith("ok", StringComparison.Ordinal));
        return Results.Json(new { status = ready ? "ready" : "not ready", checks }, ApiJson.Options,
            statusCode: ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
    }
}
