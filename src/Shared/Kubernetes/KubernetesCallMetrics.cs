using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Inference.Shared.Kubernetes;

/// <summary>Times every call the Kubernetes client makes, by Kubernetes verb (get, list, watch, create, update,
/// patch, delete) and outcome (the status class, or <c>error</c> when no answer came). Sits in the client's handler
/// chain, so grains, the watch and the admin views are all counted without each of them saying so. A watch is timed
/// to its answer's headers, not to the end of its stream.</summary>
public sealed class KubernetesCallMetrics(IMeterFactory meters) : DelegatingHandler
{
    public const string MeterName = "Inference.Kubernetes";

    private readonly Histogram<double> _duration = meters.Create(MeterName).CreateHistogram<double>(
        "inference.kubernetes.request.duration", "s", "Kubernetes API calls by verb and outcome",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] });

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var verb = Verb(request);
        try
        {
            var response = await base.SendAsync(request, cancellationToken);
            Record(started, verb, (int)response.StatusCode switch
            {
                < 300 => "success",
                404 => "not_found",
                409 => "conflict",
                422 => "invalid",
                < 500 => "client_error",
                _ => "server_error",
            });
            return response;
        }
        catch
        {
            Record(started, verb, "error");
            throw;
        }
    }

    private void Record(long started, string verb, string outcome) =>
        _duration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, new KeyValuePair<string, object?>("verb", verb),
            new KeyValuePair<string, object?>("outcome", outcome));

    /// <summary>The Kubernetes verb of a REST call: a GET of a collection is a list (a watch with <c>watch=true</c>),
    /// of one object a get; paths are <c>/api/v1[/namespaces/NS]/RESOURCE[/NAME[/SUB]]</c> or the same under
    /// <c>/apis/GROUP/VERSION</c>.</summary>
    public static string Verb(HttpRequestMessage request)
    {
        var method = request.Method.Method;
        switch (method)
        {
            case "POST": return "create";
            case "PUT": return "update";
            case "PATCH": return "patch";
            case "DELETE": return "delete";
            case not "GET": return method.ToLowerInvariant();
        }
        var uri = request.RequestUri;
        if (uri is null)
        {
            return "get";
        }
        if (KubernetesWatchStreams.IsWatch(request))
        {
            return "watch";
        }
        var segments = uri.AbsolutePath.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var rest = segments is ["api", _, ..] ? segments[2..] : segments is ["apis", _, _, ..] ? segments[3..] : null;
        if (rest is null)
        {
            return "get"; // /version, /openapi, discovery
        }
        if (rest is ["namespaces", _, _, ..])
        {
            rest = rest[2..];
        }
        return rest.Length == 1 ? "list" : "get";
    }
}
