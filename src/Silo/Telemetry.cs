using System.Diagnostics;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Inference.Silo;

/// <summary>Metrics and traces of a silo or API host process, with OpenTelemetry.
/// Metrics: ASP.NET Core and Kestrel, HttpClient, the .NET runtime, Orleans' own meter and the service's
/// (<c>Inference.*</c>), served for Prometheus at <c>/metrics</c> on a port of their own (<see cref="MetricsPortSetting"/>)
/// and only there: the API port never serves them, and the metrics port serves nothing else, so a NetworkPolicy can
/// open it to the monitoring namespace alone without exposing the API to it, and no scraper needs a token.
/// Traces: when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set (or <see cref="TracingSetting"/> is true), requests, grain
/// calls (Orleans activity propagation) and outgoing HTTP calls, the Kubernetes API's included, exported over OTLP.
/// With neither, nothing listens to the instruments at all.</summary>
public static partial class Telemetry
{
    public const string MetricsPortSetting = "METRICS_PORT";

    /// <summary>Traces without an OTLP endpoint (for an exporter added in code, as the tests do).</summary>
    public const string TracingSetting = "Telemetry:Tracing";

    public const string OtlpEndpointSetting = "OTEL_EXPORTER_OTLP_ENDPOINT";

    public static readonly string[] OrleansActivitySources = ["Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application"];

    /// <summary>Requests that would only be noise in traces: probes and scrapes.</summary>
    private static readonly string[] UntracedPaths = ["/health", "/ready", "/metrics"];

    /// <summary>The meters served at <c>/metrics</c> (each name also covers the meters under it): ASP.NET Core's
    /// (requests, Kestrel's connections, routing, exceptions, rate limiting, authentication and authorization),
    /// HttpClient's and name resolution's, the .NET runtime's, Orleans' and the service's own. Not Kestrel's memory
    /// pool meter (<c>Microsoft.AspNetCore.MemoryPool</c>): it counts every buffer rented and returned, several per
    /// request, which made it the largest part of what metrics cost a key validation, for figures only a memory
    /// investigation wants; <c>Metrics__OpenTelemetry__EnabledMetrics__Microsoft.AspNetCore.MemoryPool=true</c> serves
    /// it.</summary>
    private static readonly string[] MeterNames =
    [
        "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "Microsoft.AspNetCore.Routing",
        "Microsoft.AspNetCore.Diagnostics", "Microsoft.AspNetCore.RateLimiting", "Microsoft.AspNetCore.Http.Connections",
        "Microsoft.AspNetCore.Authentication", "Microsoft.AspNetCore.Authorization",
        "System.Net.Http", "System.Net.NameResolution", "System.Runtime", "Microsoft.Orleans", "Inference",
    ];

    /// <summary>The name OpenTelemetry's listener has in the host's metrics pipeline.</summary>
    private const string OpenTelemetryListener = "OpenTelemetry";

    public static int? MetricsPort(IConfiguration configuration) =>
        configuration.GetValue<int?>(MetricsPortSetting) is > 0 and var port ? port : null;

    /// <summary>Whether the configuration sets a meter-wide rule at <paramref name="key"/>: <c>Meter=false</c>, or
    /// <c>Meter:Default=false</c> beside rules for single instruments.</summary>
    private static bool ConfiguresMeter(IConfiguration configuration, string key) =>
        configuration[key] is not null || configuration[$"{key}:Default"] is not null;

    public static bool TracingEnabled(IConfiguration configuration) =>
        !string.IsNullOrEmpty(configuration[OtlpEndpointSetting]) || configuration.GetValue<bool>(TracingSetting);

    /// <summary>Registers what is configured and adds the metrics port to the addresses the host listens on (the
    /// API's host, or all interfaces when the API's address names none); call after the API's own URLs are set.</summary>
    /// <param name="tracedOnlyInCallersTraces">Paths whose requests are recorded only inside a trace the caller started
    /// and sampled (a <c>traceparent</c> with the sampled flag), and start no trace of their own: calls a gateway makes
    /// for every request it serves, whose spans belong in the gateway's traces, and alone would be the bulk of all
    /// spans.</param>
    public static WebApplicationBuilder AddInferenceTelemetry(this WebApplicationBuilder builder, string serviceName,
        params string[] tracedOnlyInCallersTraces)
    {
        var configuration = builder.Configuration;
        AddLogFormat(builder);
        var metricsPort = MetricsPort(configuration);
        var tracing = TracingEnabled(configuration);
        if (metricsPort is null && !tracing)
        {
            return builder;
        }
        var otel = builder.Services.AddOpenTelemetry().ConfigureResource(r => r.AddService(serviceName));
        if (metricsPort is { } port)
        {
            otel.WithMetrics(metrics => metrics.AddPrometheusExporter());
            // Meters are enabled through the host's metrics pipeline, not AddMeter: AddMeter matches a meter by name
            // in the whole process, so a second host there (tests run many) would have its identical instruments
            // merged into this host's series, and its shutdown would end them. A rule here matches the meters this
            // host's IMeterFactory made, and process-wide (static) ones such as System.Runtime's, never another
            // host's.
            // A meter the configuration switches on or off as a whole is left to it: of two rules with the same name
            // the later one wins, and this one would come after the configuration's. (A rule for one of its
            // instruments is more specific than this one and wins anyway.)
            foreach (var meter in MeterNames.Where(m => !ConfiguresMeter(configuration, $"Metrics:EnabledMetrics:{m}")
                && !ConfiguresMeter(configuration, $"Metrics:{OpenTelemetryListener}:EnabledMetrics:{m}")))
            {
                builder.Metrics.EnableMetrics(meter, instrumentName: null, listenerName: OpenTelemetryListener);
            }
            // Listening on the metrics port too means naming every address.
            var configured = ConfiguredApiUrls(builder.WebHost);
            var host = configured.Select(u => UrlHost().Match(u)).FirstOrDefault(m => m.Success)?.Groups["host"].Value ?? "+";
            var listened = ApiUrls(builder.WebHost);
            if (listened.FirstOrDefault(u => u.TrimEnd('/').EndsWith($":{port}", StringComparison.Ordinal)) is { } clash)
            {
                // The metrics port answers nothing but /metrics: on the API's own port it would shut the API out.
                throw new OptionsValidationException(MetricsPortSetting, typeof(int),
                    [$"{MetricsPortSetting} ({port}) must differ from the port the API listens on ({clash}): set it to a free port of its own"]);
            }
            builder.WebHost.UseUrls([.. listened, $"http://{host}:{port}"]);
        }
        if (tracing)
        {
            otel.WithTracing(traces =>
            {
                traces.SetSampler(new BackgroundFilter())
                    .AddAspNetCoreInstrumentation(o => o.Filter = context => Traced(context.Request.Path, tracedOnlyInCallersTraces))
                    .AddHttpClientInstrumentation()
                    .AddSource(OrleansActivitySources);
                if (!string.IsNullOrEmpty(configuration[OtlpEndpointSetting]))
                {
                    traces.AddOtlpExporter();
                }
            });
        }
        return builder;
    }

    /// <summary>The addresses the API listens on, as Kestrel will read them: the ones set (urls), else the ports set
    /// (ASPNETCORE_HTTP_PORTS, as the chart's silos use), else Kestrel's default. Read before
    /// <see cref="AddInferenceTelemetry"/> adds the metrics port to them.</summary>
    public static string[] ApiUrls(IWebHostBuilder webHost) => ConfiguredApiUrls(webHost) is { Length: > 0 } urls ? urls : ["http://localhost:5000"];

    private static string[] ConfiguredApiUrls(IWebHostBuilder webHost)
    {
        var urls = (webHost.GetSetting(WebHostDefaults.ServerUrlsKey) ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (urls.Length == 0 && webHost.GetSetting(WebHostDefaults.HttpPortsKey) is { Length: > 0 } ports)
        {
            urls = [.. ports.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(p => $"http://+:{p}")];
        }
        return urls;
    }

    public const string LogFormatSetting = "LOG_FORMAT";

    /// <summary><c>LOG_FORMAT=json</c>: one JSON object per line on the console, with the logging scopes, which carry
    /// the trace and span ids of the request or grain call being served (the host tracks them by default) whenever
    /// tracing is on. <c>text</c> (the default) keeps the plain console format.</summary>
    private static void AddLogFormat(WebApplicationBuilder builder)
    {
        switch (builder.Configuration[LogFormatSetting]?.Trim().ToLowerInvariant())
        {
            case null or "" or "text":
                return;
            case "json":
                builder.Logging.AddJsonConsole(o =>
                {
                    o.IncludeScopes = true;
                    o.UseUtcTimestamp = true;
                    o.TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";
                });
                return;
            default:
                throw new OptionsValidationException(LogFormatSetting, typeof(string),
                    [$"{LogFormatSetting} must be text or json, not '{builder.Configuration[LogFormatSetting]}'"]);
        }
    }

    /// <summary>Serves <c>/metrics</c> on the metrics port and answers 404 to anything else there. Goes first in the
    /// pipeline, so no API middleware runs for a scrape.</summary>
    public static WebApplication UseMetricsPort(this WebApplication app)
    {
        if (MetricsPort(app.Configuration) is not { } port)
        {
            return app;
        }
        app.MapWhen(context => context.Connection.LocalPort == port, metrics =>
        {
            metrics.UseOpenTelemetryPrometheusScrapingEndpoint();
            metrics.Run(context =>
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            });
        });
        return app;
    }

    /// <summary>Whether a request's span is recorded: not for probes and scrapes, and for a path traced only in callers'
    /// traces only when the caller's trace context came with it (the sampler has already let only a sampled one through;
    /// the request's own span is then current). A request span that is not recorded leaves the grain calls under it
    /// unrecorded too (<see cref="BackgroundFilter"/> follows the parent). ASP.NET Core gives a sampler no path when it
    /// creates a request's span, so this is decided here, once the request is read.</summary>
    private static bool Traced(PathString path, string[] tracedOnlyInCallersTraces) =>
        !UntracedPaths.Contains(path.Value)
        && (Activity.Current is { HasRemoteParent: true }
            || !tracedOnlyInCallersTraces.Any(p => path.StartsWithSegments(p, StringComparison.OrdinalIgnoreCase)));

    /// <summary>Traces what a caller started, not the background chatter: a trace that would begin with a grain call
    /// the runtime makes on its own (stream pulling agents polling their queues several times a second, membership,
    /// the dashboard's collection, timers, the watch's lease renewals) is dropped, with everything under it; every
    /// other root, and every span under a kept parent, is recorded. Orleans names a grain call span
    /// <c>Interface/Method</c>.</summary>
    private sealed class BackgroundFilter : Sampler
    {
        private static readonly SamplingResult Keep = new(SamplingDecision.RecordAndSample);
        private static readonly SamplingResult Drop = new(SamplingDecision.Drop);

        private static readonly string[] BackgroundCalls = ["IGrainTimerInvoker/", "IMemoryStreamQueueGrain/", "IPersistentStream",
            "IMembership", "ISilo", "IManagementGrain/", "IDashboard", "IRemoteGrainDirectory", "IWatchLeaseGrain/"];

        public override SamplingResult ShouldSample(in SamplingParameters parameters)
        {
            if (parameters.ParentContext.TraceId != default)
            {
                return (parameters.ParentContext.TraceFlags & System.Diagnostics.ActivityTraceFlags.Recorded) != 0 ? Keep : Drop;
            }
            var name = parameters.Name;
            return BackgroundCalls.Any(prefix => name.StartsWith(prefix, StringComparison.Ordinal)) ? Drop : Keep;
        }
    }

    [GeneratedRegex(@"^[a-z]+://(?<host>\[[^\]]*\]|[^:/]+)", RegexOptions.IgnoreCase)]
    private static partial Regex UrlHost();
}
