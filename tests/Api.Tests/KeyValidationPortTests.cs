using System.Diagnostics;
using System.Globalization;
using System.Net;
using Inference.ApiHost.Keys;
using Inference.TestSupport;
using static Inference.Api.Tests.PublishingSupport;

namespace Inference.Api.Tests;

/// <summary>The API host with metrics and tracing on, and key validation on a port of its own as well.</summary>
public sealed class KeyValidationPortFixture : TelemetryFixture
{
    public int ValidationPort { get; } = TestEnvironment.FreePort();

    protected override void Configure(IDictionary<string, string?> settings)
    {
        base.Configure(settings);
        settings["KeyValidation:Port"] = ValidationPort.ToString(CultureInfo.InvariantCulture);
        settings["HOST"] = "127.0.0.1";
        settings["KeyValidation:FailuresPerMinute"] = FailuresPerMinute.ToString(CultureInfo.InvariantCulture);
        // What the chart gives the silos with the validation port on: its Service port, and the API's as the fallback.
        settings["Gateway:AuthServicePort"] = ValidationServicePort.ToString(CultureInfo.InvariantCulture);
        settings["Gateway:AuthServiceFallbackPort"] = ApiServicePort.ToString(CultureInfo.InvariantCulture);
    }

    public const int ValidationServicePort = 8086;

    public const int ApiServicePort = 8085;

    /// <summary>Few, so that one source's budget is spent in a few requests; each test uses sources of its own.</summary>
    public const int FailuresPerMinute = 6;

    public HttpClient Validation() => new() { BaseAddress = new Uri($"http://127.0.0.1:{ValidationPort}") };
}

public sealed class KeyValidationPortTests(KeyValidationPortFixture api) : IClassFixture<KeyValidationPortFixture>
{
    private const string Host = "api.router.inference-in-a-box";

    private static async Task<(HttpStatusCode Status, string Body, string Headers)> Answer(HttpClient client, Func<HttpRequestMessage> request)
    {
        var response = await client.SendAsync(request());
        // Header names, not values: a valid key's remaining count goes down with every validation.
        var headers = string.Join(",", response.Headers.Concat(response.Content.Headers).Select(h => h.Key).Order(StringComparer.OrdinalIgnoreCase));
        return (response.StatusCode, await response.Content.ReadAsStringAsync(), headers);
    }

    [Fact]
    public async Task The_validation_port_answers_both_forms_as_the_api_port_does_and_serves_nothing_else()
    {
        var tenant = api.Tenant("tenant-a");
        var name = await api.ReadyModelAsync(tenant);
        var key = (await tenant.PublishAsync(name, Config(rpm: 1000, rph: 10000, burst: 1000))).Key();
        var source = NewSource();
        HttpRequestMessage Post(string path, string? apiKey)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, path);
            request.Headers.Host = Host;
            request.Headers.Add("X-Envoy-External-Address", source);
            if (apiKey is not null)
            {
                request.Headers.Add("X-API-Key", apiKey);
            }
            return request;
        }
        var forwarded = $"/api/validate-api-key/tenant-a/{name}/models/{name}/v1/models/{name}:predict";
        var requests = new (string What, Func<HttpRequestMessage> Request, HttpStatusCode Expected)[]
        {
            ("the contract's form", () => Post("/api/validate-api-key", key), HttpStatusCode.OK),
            ("the forwarded form", () => Post(forwarded, key), HttpStatusCode.OK),
            ("another publication's route", () => Post($"/api/validate-api-key/tenant-a/{NewName()}/v1/models/m:predict", key), HttpStatusCode.Forbidden),
            ("no key", () => Post(forwarded, null), HttpStatusCode.Unauthorized),
            ("a forged key", () => Post(forwarded, key[..^4] + "AAAA"), HttpStatusCode.Unauthorized),
            ("no publication named", () => Post("/api/validate-api-key/only-one-segment", key), HttpStatusCode.BadRequest),
            // Past Kestrel's body limit, with no length announced: the framework's exception, answered by the
            // exception handler through the error writer (the path a cluster failure's 503 takes).
            ("an endless body", () =>
            {
                var request = Post("/api/validate-api-key", apiKey: null);
                request.Content = new StreamContent(new MemoryStream(System.Text.Encoding.ASCII.GetBytes("{\"apiKey\": \"" + new string('a', 2 << 20) + "\"}")));
                request.Content.Headers.ContentType = new("application/json");
                request.Headers.TransferEncodingChunked = true;
                return request;
            }, HttpStatusCode.RequestEntityTooLarge),
        };
        using var main = api.Client();
        using var port = api.Validation();
        foreach (var (what, request, expected) in requests)
        {
            var onMain = await Answer(main, request);
            var onPort = await Answer(port, request);
            Assert.True(onMain.Status == expected, $"{what} on the API port: {onMain}");
            Assert.Equal(onMain, onPort);
        }
        var valid = await port.SendAsync(Post(forwarded, key));
        Assert.Equal("tenant-a", valid.Headers.GetValues("X-Tenant").Single());

        foreach (var path in new[] { "/api/models", "/health", "/ready", "/metrics", "/openapi/v1.json", "/" })
        {
            await (await port.GetAsync(path)).AssertError(HttpStatusCode.NotFound);
        }
        using var tenantOnPort = api.Validation();
        tenantOnPort.DefaultRequestHeaders.Authorization = new("Bearer", api.Tokens.Tenant("tenant-a"));
        await (await tenantOnPort.GetAsync("/api/models")).AssertError(HttpStatusCode.NotFound);
    }

    /// <summary>During an upgrade that adds the validation port, a policy may be written before any API host serving it
    /// is Ready: the gateway then falls back to the API port (which validates the same way) instead of refusing.</summary>
    [Fact]
    public async Task A_publications_external_authorization_names_the_validation_port_with_the_api_port_as_fallback()
    {
        var tenant = api.Tenant("tenant-a");
        var name = await api.ReadyModelAsync(tenant);
        var published = await tenant.PublishAsync(name, Config());
        var policyName = published["publishedModel"]!["gatewayResources"]!.AsArray().Single(o => o!["kind"]!.GetValue<string>() == "SecurityPolicy")!["name"]!.GetValue<string>();
        // Written through the emulator, which checks it against Envoy Gateway's CRD.
        var policy = await api.Kubernetes().GatewayObjectAsync("gateway.envoyproxy.io", "v1alpha1", "securitypolicies", policyName);
        var backends = policy!["spec"]!["extAuth"]!["http"]!["backendRefs"]!.AsArray();
        Assert.Equal(2, backends.Count);
        Assert.Equal(KeyValidationPortFixture.ValidationServicePort, backends[0]!["port"]!.GetValue<int>());
        Assert.Null(backends[0]!["fallback"]);
        Assert.Equal(KeyValidationPortFixture.ApiServicePort, backends[1]!["port"]!.GetValue<int>());
        Assert.True(backends[1]!["fallback"]!.GetValue<bool>());
        // The same Service: only the port differs.
        Assert.Equal(backends[0]!["name"]!.GetValue<string>(), backends[1]!["name"]!.GetValue<string>());
        Assert.Equal(backends[0]!["namespace"]!.GetValue<string>(), backends[1]!["namespace"]!.GetValue<string>());
    }

    [Fact]
    public async Task One_sources_failures_are_counted_once_across_both_ports()
    {
        var source = NewSource();
        var forged = "pk_live_k1_" + new string('A', 43);
        HttpRequestMessage Forged()
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/api/validate-api-key");
            request.Headers.Add("X-API-Key", forged);
            request.Headers.Add("X-Envoy-External-Address", source);
            return request;
        }
        using var main = api.Client();
        using var port = api.Validation();
        for (var i = 0; i < KeyValidationPortFixture.FailuresPerMinute; i++)
        {
            var response = await (i % 2 == 0 ? main : port).SendAsync(Forged());
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }
        // The budget is spent on whichever port comes next.
        await (await port.SendAsync(Forged())).AssertError(HttpStatusCode.TooManyRequests, "Too many failed validations");
        await (await main.SendAsync(Forged())).AssertError(HttpStatusCode.TooManyRequests, "Too many failed validations");
    }

    [Fact]
    public async Task Requests_on_the_validation_port_add_no_framework_request_or_connection_series_while_the_api_ports_are_kept()
    {
        var marker = $"/no-such-route-{NewName()}";
        using var port = api.Validation();
        using var main = api.Client();
        const int validations = 5;
        for (var i = 0; i < validations; i++)
        {
            // Each on a connection of its own, so the connection meter would count them.
            using var fresh = api.Validation();
            fresh.DefaultRequestHeaders.ConnectionClose = true;
            Assert.Equal(HttpStatusCode.Unauthorized, (await fresh.PostAsync("/api/validate-api-key", null)).StatusCode);
        }
        // A request the framework would time (no route, so nothing turns its metrics off), on each port once.
        Assert.Equal(HttpStatusCode.NotFound, (await port.PutAsync(marker, null)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await main.PutAsync(marker, null)).StatusCode);

        bool Put404(KeyValuePair<string, double> s) => s.Key.StartsWith("http_server_request_duration_seconds_count{", StringComparison.Ordinal)
            && s.Key.Contains("http_request_method=\"PUT\"", StringComparison.Ordinal)
            && s.Key.Contains("http_response_status_code=\"404\"", StringComparison.Ordinal);
        var portLabel = $"server_port=\"{api.ValidationPort}\"";
        var mainLabel = $"server_port=\"{api.BaseAddress.Port}\"";
        var samples = await TestEnvironment.Eventually(api.ScrapeAsync,
            s => s.Where(Put404).Sum(x => x.Value) >= 1
                && s.Keys.Any(k => k.StartsWith("kestrel_", StringComparison.Ordinal) && k.Contains(mainLabel, StringComparison.Ordinal))
                && s.Where(x => x.Key.StartsWith("inference_key_validation_validations_total{", StringComparison.Ordinal)
                    && x.Key.Contains("outcome=\"missing\"", StringComparison.Ordinal)).Sum(x => x.Value) >= validations,
            what: "the API port's PUT and connections, and the validations, in a scrape");
        var report = string.Join("\n", samples.Keys.Order());
        // Only the API port's PUT: this fixture's host serves no other.
        Assert.True(samples.Where(Put404).Sum(s => s.Value) == 1, report);
        // (The test's own HttpClient calls to that port are in the process-wide http_client_* series.)
        Assert.DoesNotContain(samples.Keys, k => (k.StartsWith("kestrel_", StringComparison.Ordinal) || k.StartsWith("http_server_", StringComparison.Ordinal))
            && k.Contains(portLabel, StringComparison.Ordinal));
        // Counted by the service's own instrument, as on the API port.
        Assert.Equal(validations, samples.Where(x => x.Key.StartsWith("inference_key_validation_validations_total{", StringComparison.Ordinal)
            && x.Key.Contains("outcome=\"missing\"", StringComparison.Ordinal)).Sum(x => x.Value));
    }

    [Fact]
    public async Task A_validation_on_the_validation_port_is_traced_only_inside_a_sampled_callers_trace_and_otherwise_starts_no_activity()
    {
        var alone = $"/api/validate-api-key/tenant-a/{NewName()}/v1/models/m:predict";
        var unsampled = $"/api/validate-api-key/tenant-a/{NewName()}/v1/models/m:predict";
        var inTrace = $"/api/validate-api-key/tenant-a/{NewName()}/v1/models/m:predict";
        var unsampledTrace = ActivityTraceId.CreateRandom();
        var started = new List<(ActivityTraceId Trace, string Source, string? Path)>();
        // What the service's tracer listens to (ASP.NET Core's requests, the validation port's spans), seen as the
        // activities are created: the least a listener can ask for, so that it samples nothing in for the tracer.
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is "Microsoft.AspNetCore" or KeyValidationListener.ActivitySourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.PropagationData,
            ActivityStarted = a =>
            {
                lock (started)
                {
                    started.Add((a.TraceId, a.Source.Name, a.GetTagItem("url.path") as string));
                }
            },
        };
        ActivitySource.AddActivityListener(listener);

        Assert.StartsWith("HTTP/1.1 401", await GatewayPostAsync(alone, traceparent: null));
        Assert.StartsWith("HTTP/1.1 401", await GatewayPostAsync(unsampled, $"00-{unsampledTrace}-{ActivitySpanId.CreateRandom()}-00"));
        var traceId = ActivityTraceId.CreateRandom();
        var parentId = ActivitySpanId.CreateRandom();
        Assert.StartsWith("HTTP/1.1 401", await GatewayPostAsync(inTrace, $"00-{traceId}-{parentId}-01"));

        var span = await TestEnvironment.Eventually(() => Task.FromResult(api.SpansNow().FirstOrDefault(s =>
                s.Kind == ActivityKind.Server && s.GetTagItem("url.path") as string == inTrace)),
            s => s is not null, what: "the validation's span in the caller's trace");
        Assert.Equal(KeyValidationListener.ActivitySourceName, span!.Source.Name);
        Assert.Equal(traceId, span.TraceId);
        Assert.Equal(parentId, span.ParentSpanId);
        Assert.Equal(401, span.GetTagItem("http.response.status_code"));
        lock (started)
        {
            var report = string.Join("\n", started.Select(s => $"{s.Trace} {s.Source} {s.Path}"));
            Assert.DoesNotContain(started, s => s.Trace == unsampledTrace);
            Assert.DoesNotContain(started, s => s.Path == alone || s.Path == unsampled);
            Assert.Single(started, s => s.Trace == traceId);
        }
        Assert.DoesNotContain(api.SpansNow(), s => s.GetTagItem("url.path") as string == alone);
    }

    /// <summary>A request as a gateway sends it, over a socket of its own (no trace context but the one given).</summary>
    private async Task<string> GatewayPostAsync(string path, string? traceparent)
    {
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync("127.0.0.1", api.ValidationPort);
        await using var stream = tcp.GetStream();
        var head = $"POST {path} HTTP/1.1\r\nHost: {Host}\r\nContent-Length: 0\r\nConnection: close\r\n"
            + (traceparent is null ? "" : $"traceparent: {traceparent}\r\n") + "\r\n";
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(head));
        using var reader = new StreamReader(stream, System.Text.Encoding.ASCII);
        return await reader.ReadLineAsync() ?? "";
    }
}
