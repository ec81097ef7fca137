using Microsoft.AspNetCore.Diagnostics;
using Orleans.Runtime;

namespace Inference.ApiHost.Http;

/// <summary>Turns a failure of the silo cluster (a silo died mid-call, no silo reachable, a call timed out) into a
/// 503 with Retry-After, and anything else into a 500 without internals.</summary>
public sealed class UnavailableHandler(ILogger<UnavailableHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        if (context.Response.HasStarted)
        {
            return false;
        }
        if (IsClusterUnavailable(exception))
        {
            logger.LogWarning("Cluster unavailable for {Method} {Path}: {Type}: {Message}",
                context.Request.Method, context.Request.Path, exception.GetType().Name, exception.Message);
            await ApiResults.Unavailable("The request could not be served by the cluster").ExecuteAsync(context);
            return true;
        }
        if (exception is BadHttpRequestException bad)
        {
            // The request itself is broken (a body shorter than announced, one over the size limit): the client's
            // fault, in the contract's shape.
            await ApiResults.WriteErrorAsync(context, bad.StatusCode, "Invalid request format", bad.Message);
            return true;
        }
        logger.LogError(exception, "Unhandled error for {Method} {Path}", context.Request.Method, context.Request.Path);
        await ApiResults.WriteErrorAsync(context, StatusCodes.Status500InternalServerError, ApiResults.DefaultError(StatusCodes.Status500InternalServerError));
        return true;
    }

    /// <summary>What Orleans says, in a bare <see cref="OrleansException"/> of no type of its own, when the cluster's
    /// state does not let it route a call for now: placement found no active silo for the grain (every silo is
    /// stopping, as in a whole cluster's stop or a scale to zero, or none has joined yet; every silo of this service
    /// hosts every grain, so it is the cluster being away), or the grain directory is changing hands after a silo
    /// joined or left ("Retry later", its message says). "No active nodes" also answers a grain type or interface
    /// version no silo has (an API host image ahead of the silos): unavailable until the silos catch up, as in a rolling
    /// upgrade.</summary>
    public static readonly IReadOnlyList<string> ClusterInTransition =
    [
        "No active nodes are compatible with grain ",
        " is not stable to perform the lookup for grainId ",
        " because hop limit is reached",
    ];

    /// <summary>A grain whose stored state changed under it (InconsistentStateException: after a storage outage, or a
    /// second activation during failover) is deactivated by Orleans, so a retry reads the stored state afresh.</summary>
    public static bool IsClusterUnavailable(Exception e) => e switch
    {
        SiloUnavailableException or OrleansMessageRejectionException or TimeoutException or Orleans.Storage.InconsistentStateException
            or Orleans.Runtime.Messaging.ConnectionFailedException or ClientNotAvailableException or OrleansException { InnerException: TimeoutException } => true,
        // A call Orleans gave up before it ran ("Message expired before placement could complete": its time ran out
        // while the cluster could not place the grain, as during a storage outage) is a timeout by another name; so is
        // any other cancelled call: its outcome is unknown, a retry finds out.
        OperationCanceledException => true,
        // Azure Storage that did not answer at all (Status 0: refused, reset, timed out), after the SDK's own retries:
        // the grain state or the audit trail is out of reach for now, not broken.
        Azure.RequestFailedException { Status: 0 } => true,
        AggregateException { InnerException: { } inner } => IsClusterUnavailable(inner),
        OrleansException { InnerException: null } routing when routing.GetType() == typeof(OrleansException)
            && ClusterInTransition.Any(m => routing.Message.Contains(m, StringComparison.Ordinal)) => true,
        // A grain's storage provider failing (Orleans wraps it: "Error from storage provider ... during ReadStateAsync"),
        // judged by what it wraps.
        OrleansException { InnerException: { } inner } => IsClusterUnavailable(inner),
        _ => false,
    };
}
