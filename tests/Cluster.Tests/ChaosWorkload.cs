using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json.Nodes;
using Inference.TestSupport;

namespace Inference.Cluster.Tests;

/// <summary>A steady workload against a <see cref="BoxCluster"/> while faults are injected: key validations from
/// two clients, one per API host, a writer that creates, updates and deletes models through both hosts, and
/// optionally /ws subscribers (one per host, moving to another host when theirs goes away). Every answer is recorded
/// (when, how long, status, Retry-After), every write the API acknowledged (2xx) is kept so that it can be checked
/// afterwards, and every message a subscriber gets is kept with the time it arrived.</summary>
public sealed class ChaosWorkload : IAsyncDisposable
{
    private readonly List<HttpClient> _hosts;
    private readonly List<Uri> _addresses;
    private readonly IReadOnlyList<string> _keys;
    private readonly string _tenant;
    private readonly string _token;
    private readonly CancellationTokenSource _stop = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<Task> _loops = [];
    private readonly ConcurrentDictionary<string, ModelOps> _models = new();
    private readonly ConcurrentDictionary<int, EventSocketClient> _sockets = new();
    private readonly ConcurrentDictionary<string, double> _createdAt = new();

    public ChaosWorkload(BoxCluster box, string tenant, IReadOnlyList<string> keys)
    {
        _tenant = tenant;
        _keys = keys;
        _token = box.Tokens.Tenant(tenant);
        _addresses = box.ApiHosts.Select(h => h.BaseAddress).ToList();
        _hosts = _addresses.Select(address =>
        {
            // Far above any bound the service promises: the workload measures how long requests take, it does not cut them.
            var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(120) };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", _token);
            return client;
        }).ToList();
    }

    public ConcurrentQueue<Answer> Answers { get; } = new();

    /// <summary>What the subscribers received: every message (type, model name, readiness), plus "closed" (with
    /// the close code) and "dropped" (the connection failed without a close) when a socket ended.</summary>
    public ConcurrentQueue<Notice> Notices { get; } = new();

    /// <summary>Seconds since the workload was created, on the clock answers are stamped with.</summary>
    public double Now => _clock.Elapsed.TotalSeconds;

    public sealed record Answer(string Kind, double At, double Seconds, int Status, bool RetryAfter, string Body, int Host = -1, int Key = -1);

    public sealed record Notice(int Subscriber, double At, string Type, string? Name = null, string? Detail = null);

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
                var host = h;
                _loops.Add(Task.Run(() => ValidateLoop(host)));
            }
        }
        _loops.Add(Task.Run(WriteLoop));
    }

    /// <summary>One /ws subscriber per API host, each starting on its own host.</summary>
    public void StartSubscribers()
    {
        for (var s = 0; s < _addresses.Count; s++)
        {
            var subscriber = s;
            _loops.Add(Task.Run(() => SubscribeLoop(subscriber)));
        }
    }

    private async Task<HttpResponseMessage?> Timed(string kind, int host, Func<Task<HttpResponseMessage>> send, int key = -1)
    {
        var at = Now;
        try
        {
            var response = await send();
            var body = (int)response.StatusCode >= 500 ? await response.Content.ReadAsStringAsync() : "";
            Answers.Enqueue(new Answer(kind, at, Now - at, (int)response.StatusCode, response.Headers.RetryAfter is not null, body, host, key));
            return response;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            // The connection itself failed (a host gone): no status at all, recorded as 0.
            Answers.Enqueue(new Answer(kind, at, Now - at, 0, false, e.Message, host, key));
            return null;
        }
    }

    private volatile TaskCompletionSource? _paused;
    private int _validating;

    private async Task ValidateLoop(int host)
    {
        var random = new Random();
        while (!_stop.IsCancellationRequested)
        {
            if (_paused is { } paused)
            {
                await paused.Task;
            }
            var key = random.Next(_keys.Count);
            Interlocked.Increment(ref _validating);
            HttpResponseMessage? response;
            try
            {
                response = await Timed("validate", host, () =>
                {
                    var request = new HttpRequestMessage(HttpMethod.Post, "/api/validate-api-key");
                    request.Headers.Add("X-API-Key", _keys[key]);
                    return _hosts[host].SendAsync(request);
                }, key);
            }
            finally
            {
                Interlocked.Decrement(ref _validating);
            }
            response?.Dispose();
            // A host that is down refuses at once: do not spin on it.
            await Task.Delay(response is null ? 200 : 5);
        }
    }

    /// <summary>Validations pause (writes and subscribers go on) until every one under way is answered and the hosts
    /// have reported what they spent of their leases (<paramref name="settle"/>); then <paramref name="read"/> runs
    /// and validations resume. Usage read this way is exact, not a lease period behind.</summary>
    public async Task<T> WhileValidationsPausedAsync<T>(TimeSpan settle, Func<Task<T>> read)
    {
        _paused = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        try
        {
            await TestEnvironment.Eventually(() => Task.FromResult(Volatile.Read(ref _validating)), n => n == 0, TimeSpan.FromSeconds(120), "validations under way to be answered");
            await Task.Delay(settle);
            return await read();
        }
        finally
        {
            var paused = _paused;
            _paused = null;
            paused.SetResult();
        }
    }

    private async Task WriteLoop()
    {
        var n = 0;
        while (!_stop.IsCancellationRequested)
        {
            // Each model: created, updated, deleted (every third one kept), one write per period.
            var model = _models.GetOrAdd($"m{n / 3}", _ => new ModelOps());
            await WriteModelAsync(n % _hosts.Count, n, model);
            n++;
            await Task.Delay(100);
        }
    }

    private readonly ConcurrentDictionary<string, string> _names = new();

    private async Task WriteModelAsync(int h, int n, ModelOps model)
    {
        var host = _hosts[h];
        var name = _names.GetOrAdd($"m{n / 3}", _ => $"chaos-{Guid.NewGuid():N}"[..14]);
        var step = n % 3;
        var keep = n / 3 % 3 == 0;
        HttpResponseMessage? response;
        switch (step)
        {
            case 0:
                var at = Now;
                response = await Timed("create", h, () => host.PostAsJsonAsync("/api/models", new { name, framework = "sklearn", storageUri = "s3://bucket/model", minReplicas = 1, maxReplicas = 2 }));
                if (response?.StatusCode == HttpStatusCode.Created)
                {
                    _createdAt[name] = at;
                }
                Record(model, response, HttpStatusCode.Created, maxReplicas: 2, deleted: false);
                break;
            case 1:
                response = await Timed("update", h, () => host.PutAsJsonAsync($"/api/models/{name}", new { maxReplicas = 4 }));
                Record(model, response, HttpStatusCode.OK, maxReplicas: 4, deleted: false);
                break;
            default:
                if (keep)
                {
                    return;
                }
                response = await Timed("delete", h, () => host.DeleteAsync($"/api/models/{name}"));
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

    /// <summary>Holds a /ws socket on its host, or the next one that answers when that one is gone, and keeps
    /// every message; reconnects whenever the socket ends, as a UI does.</summary>
    private async Task SubscribeLoop(int subscriber)
    {
        var attempt = 0;
        while (!_stop.IsCancellationRequested)
        {
            var address = _addresses[(subscriber + attempt) % _addresses.Count];
            EventSocketClient socket;
            try
            {
                socket = await EventSocketClient.ConnectAsync(address, _token);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or InvalidOperationException or WebSocketClosedException)
            {
                attempt++;
                await Task.Delay(250);
                continue;
            }
            _sockets[subscriber] = socket;
            Notices.Enqueue(new Notice(subscriber, Now, "subscribed", Detail: address.ToString()));
            try
            {
                while (!_stop.IsCancellationRequested)
                {
                    var message = await socket.ReceiveAsync(TimeSpan.FromMinutes(10));
                    var type = message["type"]?.GetValue<string>() ?? "";
                    if (type == "heartbeat")
                    {
                        continue;
                    }
                    var ready = message["resource"]?["ready"]?.GetValue<bool>();
                    Notices.Enqueue(new Notice(subscriber, Now, type, message["name"]?.GetValue<string>(),
                        type == "resync" ? message["reason"]?.GetValue<string>() : ready?.ToString()));
                }
            }
            catch (WebSocketClosedException e)
            {
                Notices.Enqueue(new Notice(subscriber, Now, "closed", Detail: $"{(int?)e.Status} {e.Reason}"));
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
            {
                if (!_stop.IsCancellationRequested)
                {
                    Notices.Enqueue(new Notice(subscriber, Now, "dropped", Detail: e.Message));
                }
            }
            finally
            {
                _sockets.TryRemove(subscriber, out _);
                await socket.DisposeAsync();
            }
        }
    }

    public async Task StopAsync()
    {
        _stop.Cancel();
        foreach (var socket in _sockets.Values)
        {
            socket.Socket.Abort();
        }
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

    /// <summary>Admitted validations of <paramref name="key"/> counted per sliding window against its per-minute
    /// limit: the most seen in any window. The grain counts an admission when it grants it, at most a lease period
    /// before the host admits it, so the window checked is a minute less a lease period; and only answers that
    /// certainly fall inside a window (sent and answered within it) count, so an excess found here is real.</summary>
    public (int Most, double From) MostAdmittedInAMinute(int key, TimeSpan lease, Func<double, bool>? windows = null)
    {
        var window = 60 - lease.TotalSeconds;
        var admitted = Answers.Where(a => a.Kind == "validate" && a.Key == key && a.Status == 200)
            .Select(a => (Start: a.At, End: a.At + a.Seconds)).OrderBy(a => a.Start).ToList();
        var most = 0;
        var from = 0.0;
        for (var i = 0; i < admitted.Count; i++)
        {
            var until = admitted[i].Start + window;
            if (windows is not null && !windows(admitted[i].Start))
            {
                continue;
            }
            var count = 0;
            for (var j = i; j < admitted.Count && admitted[j].Start <= until; j++)
            {
                if (admitted[j].End <= until)
                {
                    count++;
                }
            }
            if (count > most)
            {
                (most, from) = (count, admitted[i].Start);
            }
        }
        return (most, from);
    }

    /// <summary>Validations of <paramref name="key"/> answered 200 (each one an admission the service must count).</summary>
    public long Admitted(int key, double until = double.MaxValue) =>
        Answers.Count(a => a.Kind == "validate" && a.Key == key && a.Status == 200 && a.At + a.Seconds <= until);

    /// <summary>Subscriber figures of one fault: how long until a status change of a model created after the fault
    /// began reached every subscriber, and what the subscribers were told (resync notices, closes and reconnects).</summary>
    public SubscriberFigures Subscribers(double from, double until)
    {
        var notices = Notices.Where(n => n.At >= from && n.At < until).ToList();
        var subscribers = Enumerable.Range(0, _addresses.Count).ToList();
        double? reached = null;
        var candidates = notices.Where(n => n.Type == "model.status" && n.Name is not null && _createdAt.TryGetValue(n.Name, out var at) && at >= from)
            .GroupBy(n => n.Name!).ToList();
        foreach (var model in candidates)
        {
            var firsts = subscribers.Select(s => model.Where(n => n.Subscriber == s).Select(n => (double?)n.At).Min()).ToList();
            if (firsts.All(f => f is not null))
            {
                var last = firsts.Max()!.Value - from;
                reached = reached is null ? last : Math.Min(reached.Value, last);
            }
        }
        return new SubscriberFigures(
            reached,
            notices.Where(n => n.Type == "resync").Select(n => n.Subscriber).Distinct().Count(),
            notices.Count(n => n.Type == "closed"),
            notices.Count(n => n.Type == "dropped"),
            notices.Count(n => n.Type == "subscribed"),
            notices.Where(n => n.Type == "closed").Select(n => n.Detail ?? "").Distinct().ToList());
    }

    public sealed record SubscriberFigures(double? StatusReachedAll, int ToldToResync, int Closed, int Dropped, int Reconnected, List<string> CloseCodes)
    {
        public string Describe() =>
            (ToldToResync > 0 ? $"resync ({ToldToResync})" : "")
            + (Closed > 0 ? $"{(ToldToResync > 0 ? "; " : "")}closed {Closed}x ({string.Join(", ", CloseCodes)})" : "")
            + (Dropped > 0 ? $"; dropped {Dropped}x" : "")
            + (Reconnected > 0 ? $"; reconnected {Reconnected}x" : "");
    }

    /// <summary>The usage the service counted for each key's publication (totalRequests, read live from the key grains).</summary>
    public async Task<long[]> CountedUsageAsync(IReadOnlyList<string> models)
    {
        var counted = new long[models.Count];
        for (var i = 0; i < models.Count; i++)
        {
            var name = models[i];
            var response = await TestEnvironment.Eventually(() => _hosts[0].GetAsync($"/api/models/{name}/publish"),
                r => r.StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(60), $"reading {name}'s publication");
            counted[i] = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["usage"]!["totalRequests"]!.GetValue<long>();
        }
        return counted;
    }

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
