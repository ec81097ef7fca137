using System.Diagnostics;
using System.Net;
using Inference.ApiHost.Http;
using Microsoft.Extensions.Options;
using OpenTelemetry.Trace;

namespace Inference.ApiHost.Keys;

/// <summary>Key validation on a port of its own (<see cref="KeyValidationOptions.Port"/>), for the gateway: the same
/// two routes and the same code path as on the API port (<see cref="KeyValidationApi"/>), served by a second, minimal
/// web application in this process that shares the API host's key state (leases, source throttle, signer, validation
/// metrics), its logging and its error writer, but whose hosting layer keeps no telemetry per request:
/// <list type="bullet">
/// <item>Metrics: its meters (ASP.NET Core hosting's request instruments, Kestrel's) come from its own
/// <see cref="System.Diagnostics.Metrics.IMeterFactory"/>, and the API host's metrics rules enable meters of the API host's
/// own factory only (<c>MeterScope.Local</c> is that factory), so nothing ever enables them: hosting does no per-request
/// metrics work. Validations are counted by <see cref="ValidationMetrics"/>, as on the API port.</item>
/// <item>Traces: hosting starts a request's Activity from the <see cref="ActivitySource"/> and
/// <see cref="DiagnosticListener"/> in its container; this application registers its own, under a name no tracer
/// listens to, so hosting starts none. A validation is traced by <see cref="ActivitySourceName"/> instead, and only
/// inside a caller's sampled trace (the same rule as the API port's: it starts no trace of its own).</item>
/// </list>
/// The API port goes on serving validation (the contract's path).</summary>
public sealed class KeyValidationListener(IServiceProvider services, IOptions<KeyValidationOptions> options, IConfiguration configuration) : IHostedService, IAsyncDisposable
{
    /// <summary>The source of validation spans on the validation port.</summary>
    public const string ActivitySourceName = "Inference.KeyValidation";

    /// <summary>What this application's hosting layer is given instead of ASP.NET Core's source and listener: a name
    /// no instrumentation subscribes to (outside the service's own <c>Inference.*</c> names, which a tracer may listen to
    /// by wildcard).</summary>
    private const string UnlistenedHostingName = "KeyValidationPort.Hosting.Unlistened";

    private readonly ActivitySource _source = new(ActivitySourceName);

    private WebApplication? _app;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.Value.Port is not { } port)
        {
            return;
        }
        _app = Build(port);
        await _app.StartAsync(cancellationToken);
    }

    private WebApplication Build(int port)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        // The API's interface, as Kestrel reads it from a URL: HOST when set (as for PORT), else every interface, as a
        // container needs; a name other than localhost means every interface, as it does in a URL.
        var host = configuration["HOST"];
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = 1024 * 1024;
            k.AddServerHeader = false;
            if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase))
            {
                k.ListenLocalhost(port);
            }
            else
            {
                if (IPAddress.TryParse(host?.Trim('[', ']'), out var address))
                {
                    k.Listen(address, port);
                }
                else
                {
                    k.ListenAnyIP(port);
                }
            }
        });
        var shared = builder.Services;
        // The API host's own lifetime stops this application (StopAsync below): it neither handles signals nor logs a
        // second set of start-up lines.
        shared.AddSingleton<IHostLifetime, HostedLifetime>();
        shared.AddRoutingCore();
        // The API host's logging (its filters keep hosting's per-request logging off, see ApiHostApp) and key state:
        // one validation code path, one set of leases and counters.
        shared.AddSingleton(services.GetRequiredService<ILoggerFactory>());
        shared.AddSingleton(services.GetRequiredService<SourceThrottle>());
        shared.AddSingleton(services.GetRequiredService<KeyLeases>());
        shared.AddSingleton(services.GetRequiredService<ApiKeySigner>());
        shared.AddSingleton(services.GetRequiredService<ValidationMetrics>());
        // Registered after the web host's own (TryAdd), so these are the ones hosting resolves.
        shared.AddSingleton(_ => new ActivitySource(UnlistenedHostingName));
        shared.AddSingleton(_ => new DiagnosticListener(UnlistenedHostingName));
        shared.AddSingleton<DiagnosticSource>(sp => sp.GetRequiredService<DiagnosticListener>());
        // The API port's error answers: a cluster failure is a 503 with Retry-After, anything else in the contract's shape.
        shared.AddExceptionHandler<UnavailableHandler>();
        shared.AddSingleton<IProblemDetailsWriter, ContractProblemDetailsWriter>();
        shared.AddProblemDetails();

        var app = builder.Build();
        app.UseExceptionHandler();
        app.Use(next => context => TracedInCallersTrace(context, next, _source));
        app.UseKeyValidationShortcut();
        app.UseRouting();
        // Anything but a validation: 404 (or 405) in the contract's shape.
        app.UseStatusCodePages();
        app.MapKeyValidationApi();
        return app;
    }

    /// <summary>A span for the validation only when the caller sent a sampled trace context: the gateway's trace then
    /// shows it, and a validation outside any sampled trace costs a header lookup.</summary>
    private static Task TracedInCallersTrace(HttpContext context, RequestDelegate next, ActivitySource source)
    {
        if (!source.HasListeners()
            || !context.Request.Headers.TryGetValue("traceparent", out var traceparent)
            || !ActivityContext.TryParse(traceparent[0], context.Request.Headers["tracestate"].FirstOrDefault(), isRemote: true, out var parent)
            || (parent.TraceFlags & ActivityTraceFlags.Recorded) == 0)
        {
            return next(context);
        }
        return Traced(context, next, source, parent);
    }

    private static async Task Traced(HttpContext context, RequestDelegate next, ActivitySource source, ActivityContext parent)
    {
        var request = context.Request;
        using var activity = source.StartActivity($"{request.Method} {KeyValidationApi.Path}", ActivityKind.Server, parent);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("http.request.method", request.Method);
            activity.SetTag("url.path", request.Path.Value);
            activity.SetTag("url.scheme", request.Scheme);
            activity.SetTag("server.port", context.Connection.LocalPort);
        }
        try
        {
            await next(context);
        }
        catch (Exception e)
        {
            activity?.AddException(e).SetStatus(ActivityStatusCode.Error);
            throw;
        }
        activity?.SetTag("http.response.status_code", context.Response.StatusCode);
        if (context.Response.StatusCode >= 500)
        {
            activity?.SetStatus(ActivityStatusCode.Error);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is not null)
        {
            await _app.StopAsync(cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync();
            _app = null;
        }
        _source.Dispose();
    }
}

/// <summary>The lifetime of an application hosted inside another one: started and stopped by it, nothing else.</summary>
internal sealed class HostedLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

public static class KeyValidationListenerRegistration
{
    /// <summary>Serves validation on <see cref="KeyValidationOptions.Port"/> when it is set; its spans (only inside a
    /// caller's sampled trace) go to the host's tracer when tracing is on.</summary>
    public static IServiceCollection AddKeyValidationListener(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddHostedService<KeyValidationListener>();
        if (Inference.Silo.Telemetry.TracingEnabled(configuration))
        {
            services.ConfigureOpenTelemetryTracerProvider(t => t.AddSource(KeyValidationListener.ActivitySourceName));
        }
        return services;
    }
}
