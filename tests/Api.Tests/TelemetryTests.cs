using System.Diagnostics;
using System.Globalization;
using System.Net;
using Inference.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;

namespace Inference.Api.Tests;

/// <summary>A host with metrics on a port of their own and traces kept in memory.</summary>
public class TelemetryFixture : ApiFixture
{
    public int MetricsPort { get; } = TestEnvironment.FreePort();

    public List<Activity> Spans { get; } = [];

    protected override void Configure(IDictionary<string, string?> settings)
    {
        settings[Silo.Telemetry.MetricsPortSetting] = MetricsPort.ToString(CultureInfo.InvariantCulture);
        settings[Silo.Telemetry.TracingSetting] = "true";
    }

    protected override void ConfigureBuilder(WebApplicationBuilder builder) =>
        builder.Services.ConfigureOpenTelemetryTracerProvider(t => t.AddInMemoryExporter(Spans));

    /// <summary>The spans exported so far (the exporter adds to the list from the threads that end them).</summary>
    public Activity[] SpansNow()
    {
        lock (Spans)
        {
            return [.. Spans];
        }
    }

    public HttpClient Metrics() => new() { BaseAddress = new Uri($"http://127.0.0.1:{MetricsPort}") };

    /// <summary>One scrape, as samples: series text (name and labels) to value.</summary>
    public Task<Dictionary<string, double>> ScrapeAsync() => Scrape(Metrics());

    public static async Task<Dictionary<string, double>> Scrape(HttpClient metrics)
    {
        var text = await (await metrics.GetAsync("/metrics")).EnsureSuccessStatusCode().Content.ReadAsStringAsync();
        var samples = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }
            // name{labels} value [timestamp]; label values may hold spaces.
            var end = line.Contains('{') ? line.LastIndexOf('}') + 1 : line.IndexOf(' ');
            var value = line[end..].Trim().Split(' ')[0];
            samples[line[..end]] = double.Parse(value, CultureInfo.InvariantCulture);
        }
        return samples;
    }
}

/// <summary>Runs beside the other classes' hosts: a host's metrics are its own (MetricsScopeTests), so the counts below
/// are this host's workload exactly.</summary>
public sealed class TelemetryTests(TelemetryFixture api) : IClassFixture<TelemetryFixture>
{
    private static double Sum(Dictionary<string, double> samples, string name, params string[] labels) =>
        samples.Where(s => (s.Key == name || s.Key.StartsWith(name + "{", StringComparison.Ordinal))
            && labels.All(l => s.Key.Contains(l, StringComparison.Ordinal))).Sum(s => s.Value);

    private static bool Has(Dictionary<string, double> samples, string name) =>
        samples.Keys.Any(k => k == name || k.StartsWith(name + "{", StringComparison.Ordinal));

    [Fact]
    public async Task After_a_workload_a_scrape_shows_every_series_with_plausible_values()
    {
        const string tenant = "tenant-c"; // this fixture's only models there
        var client = api.Tenant(tenant);
        var name = await api.ReadyModelAsync(client);
        var key = (await client.PublishAsync(name)).Key();
        var validator = api.Client();
        const int valid = 7;
        for (var i = 0; i < valid; i++)
        {
            (await validator.ValidateAsync(key)).EnsureSuccessStatusCode();
        }
        Assert.Equal(HttpStatusCode.Unauthorized, (await validator.ValidateAsync(key[..^4] + "AAAA", source: PublishingSupport.NewSource())).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await validator.PostAsync("/api/validate-api-key", null)).StatusCode);
        await using var socket = await EventSocketClient.ConnectAsync(api.BaseAddress, api.Tokens.Tenant(tenant));

        var samples = await TestEnvironment.Eventually(api.ScrapeAsync,
            s => Sum(s, "inference_models", $"tenant=\"{tenant}\"", "status=\"Ready\"") == 1
                && Sum(s, "inference_websocket_connections") >= 1
                && Sum(s, "inference_publications", $"tenant=\"{tenant}\"") == 1
                // The exporter may answer from a scrape it took a moment ago (its response cache).
                && Sum(s, "inference_key_validation_validations_total", "outcome=\"valid\"") >= valid,
            what: "the tenant's model, publication, socket and validations in a scrape");
        var report = string.Join("\n", samples.Keys.Order());

        // The service's own instruments: this host's alone, though other test classes run hosts alongside.
        Assert.Equal(valid, Sum(samples, "inference_key_validation_validations_total", "outcome=\"valid\""));
        Assert.Equal(1, Sum(samples, "inference_key_validation_validations_total", "outcome=\"missing\""));
        Assert.Equal(valid + 2, Sum(samples, "inference_key_validation_duration_seconds_count"));
        Assert.InRange(Sum(samples, "inference_key_validation_validations_total", "outcome=\"valid\"", "decided_by=\"lease\""), 1, double.MaxValue);
        Assert.InRange(Sum(samples, "inference_key_validation_validations_total", "outcome=\"valid\"", "decided_by=\"grain\""), 1, double.MaxValue);
        Assert.InRange(Sum(samples, "inference_key_validation_validations_total", "outcome=\"unknown\"", "decided_by=\"signature\""), 1, double.MaxValue);
        Assert.InRange(Sum(samples, "inference_key_validation_validations_total", "outcome=\"missing\"", "decided_by=\"none\""), 1, double.MaxValue);
        Assert.InRange(Sum(samples, "inference_key_validation_grain_calls_total"), 1, double.MaxValue);
        Assert.InRange(Sum(samples, "inference_key_leases_grants_total", "result=\"granted\""), 1, double.MaxValue);
        Assert.InRange(Sum(samples, "inference_key_leases_admissions_total"), 1, double.MaxValue);
        Assert.InRange(Sum(samples, "inference_publications_changes_total", "action=\"publish\""), 1, double.MaxValue);
        Assert.InRange(Sum(samples, "inference_kubernetes_request_duration_seconds_count", "verb=\"create\"", "outcome=\"success\""), 4, double.MaxValue);
        Assert.InRange(Sum(samples, "inference_kubernetes_request_duration_seconds_count", "verb=\"watch\""), 1, double.MaxValue);
        Assert.InRange(Sum(samples, "inference_kubernetes_request_duration_seconds_sum"), double.Epsilon, double.MaxValue);
        Assert.InRange(Sum(samples, "inference_watch_relists_total", "reason=\"start\""), 1, double.MaxValue);
        Assert.True(Has(samples, "inference_watch_lag_seconds"), report);
        Assert.InRange(Sum(samples, "inference_watch_lag_seconds"), 0, 600);
        Assert.Equal(0, Sum(samples, "inference_websocket_slow_clients_dropped_total"));
        Assert.Equal(0, Sum(samples, "inference_audit_write_failures_total"));
        Assert.True(Has(samples, "inference_audit_write_failures_total"), report);
        // ASP.NET Core and Kestrel, the runtime, Orleans.
        Assert.True(Sum(samples, "http_server_request_duration_seconds_count", "http_route=\"/api/models/{name}/publish") >= 1, report);
        // Validations are counted and timed by the service's instruments above, not by the framework's histogram,
        // which cost a validation more than the budget allows (bench/RESULTS.md).
        Assert.DoesNotContain(samples.Keys, k => k.StartsWith("http_server_request_duration", StringComparison.Ordinal)
            && k.Contains("validate-api-key", StringComparison.Ordinal));
        Assert.True(Has(samples, "kestrel_active_connections"), report);
        Assert.True(samples.Keys.Any(k => k.StartsWith("dotnet_gc_", StringComparison.Ordinal) || k.StartsWith("process_runtime_dotnet_", StringComparison.Ordinal)), report);
        Assert.True(samples.Keys.Any(k => k.StartsWith("orleans_", StringComparison.Ordinal)), report);
    }

    [Fact]
    public async Task Metrics_are_served_on_their_own_port_only_and_that_port_serves_nothing_else()
    {
        Assert.Equal(HttpStatusCode.NotFound, (await api.Client().GetAsync("/metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await api.Metrics().GetAsync("/api/models")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await api.Metrics().GetAsync("/health")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await api.Metrics().GetAsync("/metrics")).StatusCode);
    }

    [Fact]
    public async Task Creating_a_model_is_one_trace_from_the_request_through_the_grain_to_the_kubernetes_call()
    {
        var name = PublishingSupport.NewName();
        await (await api.Tenant("tenant-b").PostJson("/api/models", new
        {
            name,
            framework = "sklearn",
            storageUri = "gs://kfserving-examples/models/sklearn/1.0/model",
        })).AssertOk(HttpStatusCode.Created);

        // The spans of this POST: the one whose trace reaches the model grain's creation of this model.
        var server = await TestEnvironment.Eventually(() => Task.FromResult(api.SpansNow().FirstOrDefault(s =>
                s.Kind == ActivityKind.Server && s.GetTagItem("url.path") as string == "/api/models"
                && s.GetTagItem("http.request.method") as string == "POST"
                && api.SpansNow().Any(g => g.TraceId == s.TraceId && g.DisplayName == "IModelGrain/CreateAsync"
                    && (g.GetTagItem("orleans.rpc.target_id") as string ?? "").EndsWith(name, StringComparison.Ordinal)))),
            s => s is not null, what: "the POST's server span and the grain call it made");
        var trace = api.SpansNow().Where(s => s.TraceId == server!.TraceId).ToList();
        var report = string.Join("\n", trace.Select(s => $"{s.Source.Name} {s.Kind} {s.DisplayName} {s.GetTagItem("url.full")}"))
            + "\n--- all:\n" + string.Join("\n", api.SpansNow().Select(s => $"{s.TraceId} {s.Source.Name} {s.Kind} {s.DisplayName}"));
        // (The server span's parent is the test's own HttpClient span: the tracer listens process-wide.)
        Assert.True(trace.Any(s => s.Source.Name.StartsWith("Microsoft.Orleans", StringComparison.Ordinal) && s.DisplayName.StartsWith("IModelGrain/", StringComparison.Ordinal)), report);
        // The runtime's own background calls start no trace.
        Assert.DoesNotContain(api.SpansNow(), s => s.ParentSpanId == default && s.DisplayName.StartsWith("IGrainTimerInvoker/", StringComparison.Ordinal));
        var kube = new Uri(api.Emulator.BaseAddress).Authority;
        Assert.True(trace.Any(s => s.Kind == ActivityKind.Client && s.GetTagItem("http.request.method") as string == "POST"
            && (s.GetTagItem("url.full") as string ?? "").Contains(kube, StringComparison.Ordinal)
            && (s.GetTagItem("url.full") as string ?? "").Contains("inferenceservices", StringComparison.Ordinal)), report);
    }
}

/// <summary>A host of its own: its validations would change the exact counts <see cref="TelemetryTests"/> asserts.</summary>
public sealed class ValidationTracingTests(TelemetryFixture api) : IClassFixture<TelemetryFixture>
{
    [Fact]
    public async Task A_key_validation_is_traced_inside_a_sampled_callers_trace_and_starts_no_trace_of_its_own()
    {
        var alone = $"/api/validate-api-key/tenant-a/{PublishingSupport.NewName()}/v1/models/m:predict";
        var inTrace = $"/api/validate-api-key/tenant-a/{PublishingSupport.NewName()}/v1/models/m:predict";
        Assert.StartsWith("HTTP/1.1 401", await GatewayPostAsync(alone, traceparent: null));

        var traceId = ActivityTraceId.CreateRandom();
        var parentId = ActivitySpanId.CreateRandom();
        Assert.StartsWith("HTTP/1.1 401", await GatewayPostAsync(inTrace, $"00-{traceId}-{parentId}-01"));

        var span = await TestEnvironment.Eventually(() => Task.FromResult(api.SpansNow().FirstOrDefault(s =>
                s.Kind == ActivityKind.Server && s.GetTagItem("url.path") as string == inTrace)),
            s => s is not null, what: "the validation's span in the caller's trace");
        Assert.Equal(traceId, span!.TraceId);
        Assert.Equal(parentId, span.ParentSpanId);
        // Answered before the traced one was sent: had it been recorded, it would have been exported by now.
        Assert.DoesNotContain(api.SpansNow(), s => s.GetTagItem("url.path") as string == alone);
    }

    /// <summary>A request as a gateway sends it: over a socket of its own, so this process's HttpClient tracing (which
    /// the in-process tracer listens to) adds no trace context; only the one given, if any.</summary>
    private async Task<string> GatewayPostAsync(string path, string? traceparent)
    {
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(api.BaseAddress.Host, api.BaseAddress.Port);
        await using var stream = tcp.GetStream();
        var head = $"POST {path} HTTP/1.1\r\nHost: {api.BaseAddress.Authority}\r\nContent-Length: 0\r\nConnection: close\r\n"
            + (traceparent is null ? "" : $"traceparent: {traceparent}\r\n") + "\r\n";
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(head));
        using var reader = new StreamReader(stream, System.Text.Encoding.ASCII);
        return await reader.ReadLineAsync() ?? "";
    }
}
