using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Inference.TestSupport;

namespace Inference.Cluster.Tests;

/// <summary>A steady workload against a <see cref="BoxCluster"/> while faults are injected: key validations from
/// two clients, one per API host, and a writer that creates, updates and deletes models through both hosts. Every
/// answer is recorded (when, how long, status, Retry-After), and every write the API acknowledged (2xx) is kept so
/// that it can be checked afterwards.</summary>
public sealed class ChaosWorkload : IAsyncDisposable
{
    private readonly List<HttpClient> _hosts;
    private readonly IReadOnlyList<string> _keys;
    private readonly string _tenant;
    private readonly CancellationTokenSource _stop = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<Task> _loops = [];
    private readonly ConcurrentDictionary<string, ModelOps> _models = new();

    public ChaosWorkload(BoxCluster box, string tenant, IReadOnlyList<string> keys)
    {
        _tenant = tenant;
        _keys = keys;
        _hosts = box.ApiHosts.Select(h =>
        {
            // Far above any bound the service promises: the workload measures how long requests take, it does not cut them.
            var client = new HttpClient { BaseAddress = h.BaseAddress, Timeout = TimeSpan.FromSeconds(120) };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", box.Tokens.Tenant(tenant));
            return client;
        }).ToList();
    }

    public ConcurrentQueue<Answer> Answers { get; } = new();

    /// <summary>Seconds since the workload was created, on the clock answers are stamped with.</summary>
    public double Now => _clock.Elapsed.TotalSeconds;

    public sealed record Answer(string Kind, double At, double Seconds, int Status, bool RetryAfter, string Body);

    private sealed class ModelOps
    {
        /// <summary>What the last write on the model said it did, when the API acknowledged it; null when the last
        /// write's outcome is unknown (a 503, a dropped connection), which no check may rely on.</summary>
        public int? AcknowledgedMaxReplicas { get; set; }

        public bool AcknowledgedDeleted { get; set; }

        public bool LastOutcomeKnown { get; set; }
    }

    public void Start(int validatorsPerHost = 3)
    {
        for (var h = 0; h < _hosts.Count; h++)
        {
            for (var v = 0; v < validatorsPerHost; v++)
            {
                var host = _hosts[h];
                _loops.Add(Task.Run(() => ValidateLoop(host)));
            }
        }
        _loops.Add(Task.Run(WriteLoop));
    }

    private async Task<HttpResponseMessage?> Timed(string kind, Func<Task<HttpResponseMessage>> send)
    {
        var at = Now;
        try
        {
            var response = await send();
            var body = (int)response.StatusCode >= 500 ? await response.Content.ReadAsStringAsync() : "";
            Answers.Enqueue(new Answer(kind, at, Now - at, (int)response.StatusCode, response.Headers.RetryAfter is not null, body));
            return response;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            // The connection itself failed (a host gone): no status at all, recorded as 0.
            Answers.Enqueue(new Answer(kind, at, Now - at, 0, false, e.Message));
            return null;
        }
    }

    private async Task ValidateLoop(HttpClient host)
    {
        var random = new Random();
        while (!_stop.IsCancellationRequested)
        {
            var key = _keys[random.Next(_keys.Count)];
            using var response = await Timed("validate", () =>
            {
                var request = new HttpRequestMessage(HttpMethod.Post, "/api/validate-api-key");
                request.Headers.Add("X-API-Key", key);
                return host.SendAsync(request);
            });
            await Task.Delay(5);
        }
    }

    private async Task WriteLoop()
    {
        var n = 0;
        while (!_stop.IsCancellationRequested)
        {
            var host = _hosts[n % _hosts.Count];
            // Each model: created, updated, deleted (every third one kept), one write per period.
            var model = _models.GetOrAdd($"m{n / 3}", _ => new ModelOps());
            await WriteModelAsync(host, n, model);
            n++;
            await Task.Delay(100);
        }
    }

    private readonly ConcurrentDictionary<string, string> _names = new();

    private async Task WriteModelAsync(HttpClient host, int n, ModelOps model)
    {
        var name = _names.GetOrAdd($"m{n / 3}", _ => $"chaos-{Guid.NewGuid():N}"[..14]);
        var step = n % 3;
        var keep = n / 3 % 3 == 0;
        HttpResponseMessage? response;
        switch (step)
        {
            case 0:
                response = await Timed("create", () => host.PostAsJsonAsync("/api/models", new { name, framework = "sklearn", storageUri = "s3://bucket/model", minReplicas = 1, maxReplicas = 2 }));
                Record(model, response, HttpStatusCode.Created, maxReplicas: 2, deleted: false);
                break;
            case 1:
                response = await Timed("update", () => host.PutAsJsonAsync($"/api/models/{name}", new { maxReplicas = 4 }));
                Record(model, response, HttpStatusCode.OK, maxReplicas: 4, deleted: false);
                break;
            default:
                if (keep)
                {
                    return;
                }
                response = await Timed("delete", () => host.DeleteAsync($"/api/models/{name}"));
                Record(model, response, HttpStatusCode.OK, maxReplicas: null, deleted: true);
                break;
        }
        response?.Dispose();
    }

    private static void Record(ModelOps model, HttpResponseMessage? response, HttpStatusCode success, int? maxReplicas, bool deleted)
    {
        if (response?.StatusCode == success)
        {
            model.AcknowledgedMaxReplicas = maxReplicas;
            model.AcknowledgedDeleted = deleted;
            model.LastOutcomeKnown = true;
        }
        else if (response is null || (int)response.StatusCode >= 500)
        {
            model.LastOutcomeKnown = false;
        }
        // A 4xx changed nothing (a create after an unknown outcome that had landed: 409); what was known stays known.
    }

    public async Task StopAsync()
    {
        _stop.Cancel();
        await Task.WhenAll(_loops);
    }

    /// <summary>Acknowledged writes the API no longer shows: models whose last write was acknowledged and whose
    /// state now differs from what that write said.</summary>
    public async Task<List<string>> LostWritesAsync()
    {
        var lost = new List<string>();
        var host = _hosts[0];
        foreach (var (id, model) in _models)
        {
            if (!model.LastOutcomeKnown || !_names.TryGetValue(id, out var name))
            {
                continue;
            }
            var response = await TestEnvironment.Eventually(() => host.GetAsync($"/api/models/{name}"),
                r => r.StatusCode != HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(60), $"reading {name}");
            if (model.AcknowledgedDeleted)
            {
                if (response.StatusCode != HttpStatusCode.NotFound)
                {
                    lost.Add($"{name}: deleted (acknowledged) but answers {(int)response.StatusCode}");
                }
                continue;
            }
            if (response.StatusCode != HttpStatusCode.OK)
            {
                lost.Add($"{name}: written (acknowledged) but answers {(int)response.StatusCode}");
                continue;
            }
            var maxReplicas = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["predictor"]!["maxReplicas"]!.GetValue<int>();
            if (maxReplicas != model.AcknowledgedMaxReplicas)
            {
                lost.Add($"{name}: maxReplicas {maxReplicas}, acknowledged {model.AcknowledgedMaxReplicas}");
            }
        }
        return lost;
    }

    /// <summary>The figures of one fault: answers from <paramref name="from"/> on.</summary>
    public string Summary(string fault, double from, double until)
    {
        var answers = Answers.Where(a => a.At >= from && a.At < until).ToList();
        var unavailable = answers.Where(a => a.Status == 503).ToList();
        var span = unavailable.Count == 0 ? 0 : unavailable.Max(a => a.At + a.Seconds) - from;
        var slowest = answers.Count == 0 ? 0 : answers.Max(a => a.Seconds);
        var slowestValidation = answers.Where(a => a.Kind == "validate").Select(a => a.Seconds).DefaultIfEmpty(0).Max();
        return $"| {fault} | {answers.Count} | {answers.Count(a => a.Status >= 500 && a.Status != 503)} | {unavailable.Count} | "
            + $"{span:F1} s | {slowest:F2} s | {slowestValidation:F2} s | {answers.Count(a => a.Status == 0)} |";
    }

    public const string SummaryHeader = "| fault | answers | 5xx other than 503 | 503s | 503s ended after | slowest request | slowest validation | connection failures |\n|---|---|---|---|---|---|---|---|";

    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await StopAsync();
        }
        foreach (var host in _hosts)
        {
            host.Dispose();
        }
    }
}
