using Inference.ApiHost.Auth;
using Inference.ApiHost.Http;
using Inference.Grains.Abstractions.Events;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Orleans.Streams;
using Inference.Shared.Models;

namespace Inference.ApiHost.Realtime;

/// <summary><c>GET /ws</c>: live change events over a WebSocket. A tenant sees its own tenant; an admin sees every
/// tenant (the all-tenants stream) or one (<c>?namespace=</c>); <c>?model=</c> narrows to one model's events.
/// Events missed while disconnected are not replayed: a client re-reads state over REST when it reconnects.</summary>
public static class RealtimeApi
{
    public const string Path = "/ws";

    public static IServiceCollection AddRealtime(this IServiceCollection services, HostingMode mode)
    {
        services.AddSettings<RealtimeOptions>(RealtimeOptions.Section, o => o.Problem());
        services.AddSingleton<RealtimeStats>();
        services.AddSingleton<ResyncNotices>();
        if (mode == HostingMode.Client)
        {
            services.AddSingleton<IClusterConnectionStatusObserver, GatewayLossResync>();
        }
        else
        {
            services.AddHostedService<SiloLossResync>();
        }
        return services;
    }

    public static IEndpointRouteBuilder MapRealtimeApi(this IEndpointRouteBuilder app)
    {
        app.MapGroup(Path).RequireAuthorization().WithTenantScope().WithTags("Live changes")
            .MapGet("", Connect).WithName("WatchChanges")
            .WithSummary("Live change events over a WebSocket (upgrade request; the token may also come as ?access_token=)")
            .Produces(StatusCodes.Status101SwitchingProtocols)
            .ProducesErrors(400, 403, 429, 503);
        return app;
    }

    private static async Task<Results<EmptyHttpResult, ErrorResult>> Connect(HttpContext context, TenantScope tenantScope, IClusterClient cluster,
        IOptions<RealtimeOptions> options, RealtimeStats stats, ResyncNotices resync, IHostApplicationLifetime lifetime, TimeProvider time,
        ILoggerFactory loggers, [FromQuery] string? model)
    {
        var caller = tenantScope.Caller;
        var tenant = tenantScope.Namespace;
        if (model is not null && ModelRules.CheckName(model) is { } modelError)
        {
            return ApiResults.Error(modelError);
        }
        if (!context.WebSockets.IsWebSocketRequest)
        {
            return ApiResults.Invalid("GET /ws needs a WebSocket upgrade request");
        }

        var logger = loggers.CreateLogger("Inference.ApiHost.Realtime");
        var user = caller.Subject is { Length: > 0 } subject ? subject : $"tenant:{caller.Tenant}";
        switch (stats.TryOpen(user, options.Value))
        {
            case RealtimeStats.Admission.UserFull:
                return ApiResults.Error(StatusCodes.Status429TooManyRequests, "Too many open sockets",
                    $"At most {options.Value.MaxSocketsPerUser} /ws sockets per user; close one first");
            case RealtimeStats.Admission.HostFull:
                context.Response.Headers.RetryAfter = "5";
                return ApiResults.Error(StatusCodes.Status503ServiceUnavailable, "Too many open sockets on this host", "Retry shortly");
        }
        try
        {
            var scope = tenant ?? ChangeStreams.AllTenants;
            var connection = new EventSocket(options.Value, stats, logger);
            var stream = cluster.GetStreamProvider(ChangeStreams.Provider)
                .GetStream<ChangeEvent>(StreamId.Create(ChangeStreams.Namespace, scope));
            // First in the queue, and sent only once the subscription below exists: events flow from here on.
            connection.Enqueue(new ControlMessage(ControlMessage.Subscribed, DateTimeOffset.UtcNow, scope, model));
            // Subscribed before the upgrade: if the cluster cannot take the subscription, the client gets a 503 with
            // Retry-After rather than a socket that never delivers anything.
            var subscription = await stream.SubscribeAsync((change, _) =>
            {
                if (model is null || change.Name == model)
                {
                    connection.Enqueue(change);
                }
                return Task.CompletedTask;
            });
            resync.Add(connection);
            try
            {
                using var socket = await context.WebSockets.AcceptWebSocketAsync();
                logger.LogInformation("/ws opened for {Subject} on {Scope}{Model}", caller.Subject, scope, model is null ? "" : "/" + model);
                await connection.RunAsync(socket, TokenExpiry(context), time, lifetime.ApplicationStopping, context.RequestAborted);
            }
            finally
            {
                resync.Remove(connection);
                try
                {
                    await subscription.UnsubscribeAsync();
                }
                catch (Exception e)
                {
                    // The pub-sub drops subscriptions whose client is gone; a failed unsubscribe only delays that.
                    logger.LogDebug(e, "Unsubscribing a closed /ws socket failed");
                }
            }
        }
        finally
        {
            stats.Closed(user);
        }
        return TypedResults.Empty;
    }

    /// <summary>When the token the socket was opened with expires (its <c>exp</c>, which validation required).</summary>
    private static DateTimeOffset? TokenExpiry(HttpContext context) =>
        long.TryParse(context.User.FindFirst("exp")?.Value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var exp)
            ? DateTimeOffset.FromUnixTimeSeconds(exp)
            : null;
}
