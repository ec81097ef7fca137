using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Inference.TestSupport;

namespace Inference.Bench.ScaleMeasure;

/// <summary>The three measurements of docs/scale.md, in one session against one Kubernetes emulator and one storage:
/// tenants and models (memory, discovery, list and resync after a restart, list latencies against /health), WebSocket
/// subscribers (status change to last subscriber, against one subscriber; memory), API keys (memory per key, cold
/// activation, validation throughput with keys drawn uniformly, warm and cold, against one hot key).</summary>
public sealed class Measurements(Options options, Report report)
{
    private const string Group = "serving.kserve.io/v1beta1";
    private readonly Budget _budget = new(options.MaxTime);
    private readonly Tokens _tokens = Tokens.WithRandomSecret();
    private readonly string _keySecret = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(48));
    private readonly string _tablePrefix = TestEnvironment.UniqueTablePrefix();
    private EmulatorHost _emulator = null!;
    private HttpClient _kube = null!;
    private int _children;
    private HeapReading? _emptyHeap;

    private int TotalModels => options.Tenants * options.Models;

    private static string Tenant(int t) => $"scale-{t}";

    private static string ModelName(int m) => $"model-{m}";

    public async Task RunAsync()
    {
        Console.WriteLine($"scale: tenants {options.Tenants} x models {options.Models}, keys {options.Keys}, subscribers {options.Subscribers} "
            + $"({options.SubscribersPerTenant} per tenant), bound {options.MaxTime.TotalMinutes:0} min; logs in {options.WorkDirectory}");
        Console.WriteLine($"scale: machine: {Environment.ProcessorCount} cores, load average {Report.Load()} at start");
        await using var emulator = await EmulatorHost.StartAsync(o =>
        {
            o.SeedDemo = false;
            o.ReadyDelay = TimeSpan.FromMilliseconds(300);
        });
        _emulator = emulator;
        using var kube = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 32 }) { BaseAddress = new Uri(emulator.BaseAddress) };
        _kube = kube;

        Child? service = await StartServiceAsync();
        try
        {
            _emptyHeap = await service.HeapAsync();
            report.Section("Service at rest");
            report.Figure("GC heap after a forced full collection, nothing seeded", Report.Bytes(_emptyHeap.Heap));
            var needModels = options.Runs("models") || options.Runs("events");
            if (needModels)
            {
                service = await ModelsAsync(service);
            }
            if (options.Runs("events"))
            {
                await EventsAsync(service);
            }
            if (options.Runs("keys"))
            {
                service = await KeysAsync(service);
            }
        }
        finally
        {
            await service.DisposeAsync();
        }
        Console.WriteLine($"\nscale: load average at the end {Report.Load()}");
    }

    private Task<Child> StartServiceAsync() => Child.StartAsync(new Dictionary<string, string>
    {
        ["ConnectionStrings__Storage"] = options.Storage,
        ["Cluster__TablePrefix"] = _tablePrefix,
        ["KUBECONFIG"] = _emulator.KubeconfigPath,
        ["JWT_SECRET"] = _tokens.Secret,
        ["KeyValidation__SigningKeys__k1"] = _keySecret,
        // The management API's per-user limit would turn a latency series into 429s; the measurement is of the lists.
        ["RATE_LIMIT_REQUESTS"] = "1000000",
        ["RateLimit__Burst"] = "1000000",
        ["Logging__LogLevel__Default"] = "Warning",
        ["DOTNET_gcServer"] = "0",
    }, Path.Combine(options.WorkDirectory, $"service-{++_children}.log"), _budget.AtMost(TimeSpan.FromMinutes(3)));

    private async Task<Child> RestartAsync(Child service)
    {
        var stopping = Stopwatch.GetTimestamp();
        await service.DisposeAsync();
        report.Figure("restart: graceful stop (grains deactivate, final writes)",
            $"{Report.Ms(Stats.Since(stopping))}{(service.KilledAtStop ? ", not done within its bound: killed" : "")}");
        // Storage goes on serving what the stopped process sent before it went (Azurite works off its queue), and what
        // comes next would be timed against that backlog rather than measured on its own.
        var settling = Stopwatch.GetTimestamp();
        var settled = await StorageSettledAsync();
        report.Figure("restart: storage back to answering promptly", $"{Report.Ms(Stats.Since(settling))}{(settled ? "" : " (still slow; went on)")}");
        return await StartServiceAsync();
    }

    /// <summary>Waits (within a bound) until storage answers three writes in a row promptly.</summary>
    private async Task<bool> StorageSettledAsync()
    {
        var table = new Azure.Data.Tables.TableClient(options.Storage, "scaleprobe");
        var until = Stopwatch.GetTimestamp() + Stopwatch.Frequency * (long)_budget.AtMost(TimeSpan.FromMinutes(3)).TotalSeconds;
        var prompt = 0;
        while (prompt < 3 && Stopwatch.GetTimestamp() < until)
        {
            var write = Stopwatch.GetTimestamp();
            try
            {
                await table.CreateIfNotExistsAsync();
                await table.UpsertEntityAsync(new Azure.Data.Tables.TableEntity("probe", "probe"));
                prompt = Stats.Since(write) < 100 ? prompt + 1 : 0;
            }
            catch (Azure.RequestFailedException)
            {
                prompt = 0;
            }
            await Task.Delay(prompt == 0 ? 500 : 50);
        }
        return prompt >= 3;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Tenants and models
    // ---------------------------------------------------------------------------------------------------------------

    private async Task<Child> ModelsAsync(Child service)
    {
        report.Section($"Tenants and models: {options.Tenants} tenants x {options.Models} models, seeded into the emulator over its HTTP API");
        // A few tenants while the service runs (each model reaches it as watch events), the rest while it is stopped
        // (it finds them in its first list when it starts), then a restart (the list finds them all known).
        var probe = Math.Clamp(200 / options.Models, 1, Math.Max(1, options.Tenants / 2));
        var before = await service.HeapAsync();
        using (var admin = Client(service, _tokens.Admin()))
        {
            var seeding = Stopwatch.GetTimestamp();
            await SeedTenantsAsync(0, probe);
            var seeded = Stats.Since(seeding);
            await WaitModelsAsync(admin, probe * options.Models);
            var discovered = Stats.Since(seeding);
            report.Figure($"{probe * options.Models} models seeded with the service running", $"{seeded / 1000:0.0} s into the emulator ({probe * options.Models / (seeded / 1000):0} /s)");
            report.Figure("  ... until the admin list shows them (as watch events)", $"{discovered / 1000:0.0} s ({probe * options.Models / (discovered / 1000):0} models/s)");
        }
        var small = await service.HeapAsync();
        await service.DisposeAsync();

        if (probe < options.Tenants)
        {
            var seeding = Stopwatch.GetTimestamp();
            await SeedTenantsAsync(probe, options.Tenants);
            report.Figure($"{(options.Tenants - probe) * options.Models} more models seeded with the service stopped", $"{Stats.Since(seeding) / 1000:0.0} s");
        }
        var starting = Stopwatch.GetTimestamp();
        service = await StartServiceAsync();
        var (firstList, _) = await ListedAsync(service);
        using (var admin = Client(service, _tokens.Admin()))
        {
            await WaitModelsAsync(admin, TotalModels);
        }
        report.Figure($"start: watch list + hand-over of {TotalModels} InferenceServices (new ones adopted)", Report.Ms(firstList));
        report.Figure($"start: process start to the admin list showing all {TotalModels}", Report.Ms(Stats.Since(starting)));
        var full = await service.HeapAsync();
        var activations = await service.ActivationsAsync();
        report.Note("activations: " + string.Join(", ", activations.Where(a => a.Value >= Math.Min(options.Tenants, 50)).Select(a => $"{ShortType(a.Key)} {a.Value}")));
        report.Figure("GC heap with every model active", $"{Report.Bytes(full.Heap)} (at rest {Report.Bytes(before.Heap)})");
        report.Figure("memory per model, all in ((heap - at rest) / models)", Report.Bytes((double)(full.Heap - before.Heap) / TotalModels));
        if (probe < options.Tenants)
        {
            report.Figure($"memory per model, slope between {probe * options.Models} and {TotalModels} models", Report.Bytes((double)(full.Heap - small.Heap) / ((options.Tenants - probe) * options.Models)));
        }

        using (var admin = Client(service, _tokens.Admin()))
        {
            await ListLatenciesAsync(service, admin);
        }
        for (var pass = 1; pass <= 3; pass++)
        {
            report.Note($"where the admin list's time goes, pass {pass} (inside the service):");
            foreach (var step in await service.ProfileModelsAsync())
            {
                report.Figure("  " + step.What, step.Ms > 0 ? $"{step.Ms:0.0} ms, {step.AllocatedKiB / 1024:0.0} MiB allocated" : "");
            }
        }

        report.Note("restart: the service stopped gracefully and started again on the same storage and emulator");
        var restarted = Stopwatch.GetTimestamp();
        service = await RestartAsync(service);
        var ready = Stats.Since(restarted);
        var (resync, deployments) = await ListedAsync(service);
        report.Figure("restart: process start to /ready", Report.Ms(ready));
        report.Figure($"restart: watch list + hand-over of {TotalModels} InferenceServices (all known)", Report.Ms(resync));
        report.Figure("restart: same for their predictor Deployments", Report.Ms(deployments));
        report.Figure("restart: process start to both resynced", Report.Ms(Stats.Since(restarted)));
        var resynced = await service.HeapAsync();
        report.Figure("memory per model after the resync activated them all", Report.Bytes((double)(resynced.Heap - before.Heap) / TotalModels));
        using var adminAgain = Client(service, _tokens.Admin());
        var total = await CountModelsAsync(adminAgain, null);
        report.Check(total == TotalModels, $"after the restart the admin list shows all {TotalModels} models (got {total})");
        return service;
    }

    /// <summary>How long the watch took to list and hand over the InferenceServices and the Deployments, in ms.</summary>
    private async Task<(double InferenceServices, double Deployments)> ListedAsync(Child service)
    {
        var isvc = await service.WaitListedAsync("inferenceservices", _budget.AtMost(TimeSpan.FromMinutes(20)));
        var deployments = await service.WaitListedAsync("predictor deployments", _budget.AtMost(TimeSpan.FromMinutes(20)));
        return ((isvc.Listed - isvc.Holds).TotalMilliseconds, (deployments.Listed - deployments.Holds).TotalMilliseconds);
    }

    private static string ShortType(string type) => type.Split(',')[0].Split('.')[^1];

    private async Task SeedTenantsAsync(int from, int to)
    {
        await ForEachAsync(Enumerable.Range(from, to - from), 8, async t =>
        {
            await Send(HttpMethod.Post, "/api/v1/namespaces", new JsonObject
            {
                ["apiVersion"] = "v1",
                ["kind"] = "Namespace",
                ["metadata"] = new JsonObject { ["name"] = Tenant(t), ["labels"] = new JsonObject { ["inference-in-a-box.io/tenant"] = "true" } },
            });
        });
        // The object the service itself creates (InferenceServices.CreateAsync), labelled as managed: the watch adopts it.
        await ForEachAsync(Enumerable.Range(from, to - from).SelectMany(t => Enumerable.Range(0, options.Models).Select(m => (t, m))), 16, async x =>
        {
            await Send(HttpMethod.Post, $"/apis/{Group}/namespaces/{Tenant(x.t)}/inferenceservices", new JsonObject
            {
                ["apiVersion"] = Group,
                ["kind"] = "InferenceService",
                ["metadata"] = new JsonObject
                {
                    ["name"] = ModelName(x.m),
                    ["namespace"] = Tenant(x.t),
                    ["labels"] = new JsonObject
                    {
                        ["app.kubernetes.io/managed-by"] = "inference-management",
                        ["inference-in-a-box.io/tenant"] = Tenant(x.t),
                    },
                },
                ["spec"] = new JsonObject
                {
                    ["predictor"] = new JsonObject
                    {
                        ["model"] = new JsonObject
                        {
                            ["modelFormat"] = new JsonObject { ["name"] = "sklearn" },
                            ["storageUri"] = "gs://kfserving-examples/models/sklearn/1.0/model",
                        },
                    },
                },
            });
        });
    }

    private async Task Send(HttpMethod method, string path, JsonNode body, string contentType = "application/json")
    {
        using var request = new HttpRequestMessage(method, path) { Content = new StringContent(body.ToJsonString(), Encoding.UTF8) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        using var response = await _kube.SendAsync(request);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{method} {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }

    private async Task WaitModelsAsync(HttpClient admin, int expected)
    {
        var deadline = DateTime.UtcNow + _budget.AtMost(TimeSpan.FromMinutes(20));
        var last = -1;
        while (true)
        {
            last = await CountModelsAsync(admin, null);
            if (last >= expected)
            {
                report.Check(last == expected, $"the admin list shows exactly the {expected} models seeded (got {last})");
                return;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"the admin list showed {last} of {expected} models when the time ran out");
            }
            await Task.Delay(TimeSpan.FromSeconds(1));
        }
    }

    private static async Task<int> CountModelsAsync(HttpClient client, string? tenant)
    {
        using var response = await client.GetAsync("/api/models" + (tenant is null ? "" : $"?namespace={tenant}"));
        response.EnsureSuccessStatusCode();
        using var document = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync());
        return document.RootElement.GetProperty("total").GetInt32();
    }

    /// <summary>Sequential requests, interleaved: a /health, a tenant's list and (every fifth round, it is the heavy one)
    /// the admin list, so the three see the same machine at the same time.</summary>
    private async Task ListLatenciesAsync(Child service, HttpClient admin)
    {
        using var plain = new HttpClient { BaseAddress = service.Api };
        var clients = Enumerable.Range(0, Math.Min(options.Tenants, 20)).Select(t => Client(service, _tokens.Tenant(Tenant(t)))).ToArray();
        var health = new List<double>();
        var tenant = new List<double>();
        var all = new List<double>();
        var page = new List<double>();
        string? token = null;
        async Task<double> Time(HttpClient client, string path)
        {
            var start = Stopwatch.GetTimestamp();
            using var response = await client.GetAsync(path, HttpCompletionOption.ResponseContentRead);
            var ms = Stats.Since(start);
            if (!response.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"GET {path}: {(int)response.StatusCode}");
            }
            return ms;
        }
        // Warm-up: first calls JIT and open connections.
        for (var i = 0; i < 10; i++)
        {
            await Time(plain, "/health");
            await Time(clients[i % clients.Length], "/api/models");
        }
        await Time(admin, "/api/models");
        var rounds = 400;
        var started = Stopwatch.GetTimestamp();
        for (var r = 0; r < rounds && Stats.Since(started) < 60_000 && _budget.Left > TimeSpan.FromMinutes(1); r++)
        {
            health.Add(await Time(plain, "/health"));
            tenant.Add(await Time(clients[r % clients.Length], "/api/models"));
            if (r % 5 == 0)
            {
                all.Add(await Time(admin, "/api/models"));
            }
            // A page of 500 of the admin list, walking on through the continue tokens (the first page again after
            // the last), so the pages come from every part of the tenant order.
            var paged = Stopwatch.GetTimestamp();
            token = await PageAsync(admin, PageSize, token);
            page.Add(Stats.Since(paged));
        }
        foreach (var client in clients)
        {
            client.Dispose();
        }
        report.Figure("GET /health (no auth)", Stats.P50P99(health));
        report.Figure($"GET /api/models, one tenant ({options.Models} models)", Stats.P50P99(tenant));
        report.Figure($"GET /api/models, admin ({TotalModels} models)", Stats.P50P99(all));
        report.Figure("tenant list / health", $"p50 {Ratio(tenant, health, 50)}, p99 {Ratio(tenant, health, 99)} (target p99 within 2x)");
        report.Figure("admin list / health", $"p50 {Ratio(all, health, 50)}, p99 {Ratio(all, health, 99)}");
        report.Figure($"GET /api/models?limit={PageSize}, admin, walking the pages", Stats.P50P99(page));
        report.Figure("admin page / health", $"p50 {Ratio(page, health, 50)}, p99 {Ratio(page, health, 99)}");
        var walked = new List<string>();
        token = null;
        do
        {
            using var response = await admin.GetAsync($"/api/models?limit={PageSize}" + (token is null ? "" : $"&continue={Uri.EscapeDataString(token)}"));
            response.EnsureSuccessStatusCode();
            using var document = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync());
            walked.AddRange(document.RootElement.GetProperty("models").EnumerateArray()
                .Select(m => m.GetProperty("namespace").GetString() + "/" + m.GetProperty("name").GetString()));
            token = document.RootElement.TryGetProperty("continue", out var next) ? next.GetString() : null;
        }
        while (token is not null);
        report.Check(walked.Count == TotalModels && walked.Distinct().Count() == TotalModels,
            $"a walk of the admin list in pages of {PageSize} shows each of the {TotalModels} models once (got {walked.Count}, {walked.Distinct().Count()} distinct)");
        var one = await CountModelsAsync(clients.Length > 0 ? Client(service, _tokens.Tenant(Tenant(0))) : admin, null);
        report.Check(one == options.Models, $"a tenant's list shows its {options.Models} models (got {one})");
    }

    private const int PageSize = 500;

    /// <summary>One page of the admin model list; the token of the next, or null after the last.</summary>
    private static async Task<string?> PageAsync(HttpClient admin, int limit, string? token)
    {
        using var response = await admin.GetAsync($"/api/models?limit={limit}" + (token is null ? "" : $"&continue={Uri.EscapeDataString(token)}"),
            HttpCompletionOption.ResponseContentRead);
        response.EnsureSuccessStatusCode();
        using var document = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync());
        return document.RootElement.TryGetProperty("continue", out var next) ? next.GetString() : null;
    }

    private static string Ratio(List<double> a, List<double> b, double p) => $"{Stats.Percentile(a, p) / Stats.Percentile(b, p):0.0}x";

    private static HttpClient Client(Child service, string token)
    {
        var client = new HttpClient { BaseAddress = service.Api, Timeout = TimeSpan.FromMinutes(2) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Events
    // ---------------------------------------------------------------------------------------------------------------

    private async Task EventsAsync(Child service)
    {
        var perTenant = options.SubscribersPerTenant;
        var tenants = Math.Min(options.Tenants, (options.Subscribers + perTenant - 1) / perTenant);
        report.Section($"Events: {options.Subscribers} WebSocket subscribers over {tenants} tenants; a status change patched into the emulator per tenant per round");
        await using (var single = await Subscribers.OpenAsync(service.Api, [(Tenant(0), _tokens.Tenant(Tenant(0), "scale-single"))]))
        {
            var one = new List<double>();
            var missed = 0;
            for (var r = 0; r < options.Rounds && _budget.Left > TimeSpan.FromMinutes(1); r++)
            {
                var (latencies, missing) = await RoundAsync(single, [0], $"single-{r}");
                one.AddRange(latencies);
                missed += missing;
            }
            report.Check(missed == 0, $"the single subscriber got every change ({missed} missing)");
            report.Figure("status change -> the one subscriber", Stats.P50P99(one));
            _singleSubscriber = one;
        }

        var before = await service.HeapAsync();
        var opening = Stopwatch.GetTimestamp();
        var sockets = Enumerable.Range(0, options.Subscribers)
            .Select(i => (Tenant(i % tenants), _tokens.Tenant(Tenant(i % tenants), $"scale-sub-{i}"))).ToList();
        await using var subscribers = await Subscribers.OpenAsync(service.Api, sockets);
        report.Figure($"{options.Subscribers} sockets opened (upgrade + subscribed)", $"{Stats.Since(opening) / 1000:0.0} s");
        var after = await service.HeapAsync();
        report.Figure("memory per subscriber (heap growth / sockets)", Report.Bytes((double)(after.Heap - before.Heap) / options.Subscribers));

        var each = new List<double>();
        var last = new List<double>();
        var lost = 0;
        for (var r = 0; r < options.Rounds && _budget.Left > TimeSpan.FromMinutes(1); r++)
        {
            var (latencies, missing) = await RoundAsync(subscribers, Enumerable.Range(0, tenants).ToArray(), $"all-{r}");
            each.AddRange(latencies);
            if (latencies.Count > 0)
            {
                last.Add(latencies.Max());
            }
            lost += missing;
        }
        report.Check(lost == 0, $"every subscriber got every change of its tenant ({lost} missing)");
        report.Figure("status change -> each subscriber's message", Stats.P50P99(each));
        report.Figure($"status change -> the last of {options.Subscribers} subscribers, per round", Stats.P50P99(last) + " (target p99 under 300 ms)");
        if (_singleSubscriber is { Count: > 0 } single1)
        {
            report.Figure("last subscriber / single subscriber", $"p50 {Ratio(last, single1, 50)}, p99 {Ratio(last, single1, 99)}");
        }
    }

    private List<double>? _singleSubscriber;

    /// <summary>One round: in each given tenant, one model's Ready condition gets a new message through the status
    /// subresource (as KServe writes status), all at once; returns each subscriber's delay from its tenant's patch.</summary>
    private async Task<(List<double> Latencies, int Missing)> RoundAsync(Subscribers subscribers, int[] tenants, string marker)
    {
        subscribers.Expect(marker);
        var sentAt = new ConcurrentDictionary<string, long>();
        var model = ModelName(Math.Abs(marker.GetHashCode()) % options.Models);
        await ForEachAsync(tenants, 32, async t =>
        {
            var path = $"/apis/{Group}/namespaces/{Tenant(t)}/inferenceservices/{model}";
            var current = JsonNode.Parse(await _kube.GetStringAsync(path))!;
            var conditions = current["status"]?["conditions"]?.AsArray().DeepClone().AsArray() ?? [];
            var ready = conditions.FirstOrDefault(c => c?["type"]?.GetValue<string>() == "Ready");
            if (ready is null)
            {
                ready = new JsonObject { ["type"] = "Ready", ["status"] = "True" };
                conditions.Add(ready);
            }
            ready["message"] = $"scale {marker}";
            sentAt[Tenant(t)] = Stopwatch.GetTimestamp();
            await Send(HttpMethod.Patch, path + "/status", new JsonObject { ["status"] = new JsonObject { ["conditions"] = conditions } },
                "application/merge-patch+json");
        });
        return await subscribers.CollectAsync(marker, sentAt, _budget.AtMost(TimeSpan.FromSeconds(30)));
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Keys
    // ---------------------------------------------------------------------------------------------------------------

    private async Task<Child> KeysAsync(Child service)
    {
        report.Section($"API keys: {options.Keys} keys issued through their grains (IApiKeyGrain.IssueAsync, state written to storage) in one silo");
        var before = await service.HeapAsync();
        var half = options.Keys / 2;
        var seeding = Stopwatch.GetTimestamp();
        var keys = new List<string>(options.Keys);
        keys.AddRange(await service.SeedKeysAsync(half));
        var firstHalf = Stats.Since(seeding);
        var middle = await service.HeapAsync();
        keys.AddRange(await service.SeedKeysAsync(options.Keys - half));
        var seeded = Stats.Since(seeding);
        var full = await service.HeapAsync();
        report.Check(keys.Count == options.Keys && keys.All(k => k.StartsWith("pk_live_", StringComparison.Ordinal)), $"{options.Keys} keys issued");
        report.Figure("keys issued (activation + storage write each)", $"{seeded / 1000:0.0} s ({options.Keys / (seeded / 1000):0} keys/s; first half {half / (firstHalf / 1000):0} keys/s)");
        var activations = await service.ActivationsAsync();
        report.Note("activations: " + string.Join(", ", activations.Where(a => a.Value >= half).Select(a => $"{ShortType(a.Key)} {a.Value}")));
        report.Figure("memory per key activation (heap growth / keys)", Report.Bytes((double)(full.Heap - before.Heap) / options.Keys));
        report.Figure("memory per key activation, slope between K/2 and K", Report.Bytes((double)(full.Heap - middle.Heap) / (options.Keys - half)));
        report.Figure("=> heap for 100 000 keys at that slope", Report.Bytes((double)(full.Heap - middle.Heap) / (options.Keys - half) * 100_000) + " (target under 1 GiB)");
        var idleAfter = await IdleCpuAsync(service);
        report.Figure($"CPU of the otherwise idle service with {options.Keys} keys active", $"{idleAfter:0.0}% of one core (each key's grain has a write-behind timer)");

        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = options.Connections }) { BaseAddress = service.Api };
        await LoadAsync(http, keys, uniform: false, "warm-up");
        var afterHot = await service.HeapAsync();
        // Interleaved rounds, so both see the same machine: one hot key, then keys drawn uniformly, and again.
        var hots = new List<double>();
        var warms = new List<double>();
        for (var r = 0; r < 3; r++)
        {
            hots.Add((await LoadAsync(http, keys, uniform: false, $"one hot key (round {r + 1})")).PerSecond);
            warms.Add((await LoadAsync(http, keys, uniform: true, $"keys drawn uniformly, grains active (round {r + 1})")).PerSecond);
        }
        var hot = Stats.Percentile(hots, 50);
        report.Figure("uniform (warm) / one hot key, throughput (median of 3 rounds)", $"{Stats.Percentile(warms, 50) / hot:0.00} (per round: {string.Join(", ", warms.Select((w, i) => $"{w / hots[i]:0.00}"))})");
        var leased = await service.HeapAsync();
        report.Figure("heap growth per key from the runs (host leases, usage)", $"{Report.Bytes((double)(leased.Heap - afterHot.Heap) / options.Keys)} ({Report.Bytes(afterHot.Heap)} -> {Report.Bytes(leased.Heap)})");

        report.Note("restart: every key's grain is gone; its record is in storage");
        service = await RestartAsync(service);
        if (options.Runs("models") || options.Runs("events"))
        {
            // Not measured while the model resync runs beside it.
            await service.WaitListedAsync("inferenceservices", _budget.AtMost(TimeSpan.FromMinutes(10)));
        }
        using var cold = new HttpClient { BaseAddress = service.Api };
        var order = keys.OrderBy(_ => Random.Shared.Next()).ToList();
        var coldSamples = new List<double>();
        var warmSamples = new List<double>();
        var sample = Math.Min(200, keys.Count / 4);
        for (var i = 0; i < sample; i++)
        {
            coldSamples.Add(await ValidateOnceAsync(cold, order[i]));
        }
        for (var i = 0; i < sample; i++)
        {
            warmSamples.Add(await ValidateOnceAsync(cold, order[i]));
        }
        report.Figure("first validation of a cold key (grain activation + storage read + lease)", Stats.P50P99(coldSamples));
        report.Figure("the same keys again (grain active; lease, if not lapsed)", Stats.P50P99(warmSamples));
        report.Figure("cold / warm", $"p50 {Ratio(coldSamples, warmSamples, 50)}, p99 {Ratio(coldSamples, warmSamples, 99)}");
        using var http2 = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = options.Connections }) { BaseAddress = service.Api };
        var coldRun = await LoadAsync(http2, order.Skip(sample).ToList(), uniform: true, "keys drawn uniformly, grains cold (after restart)");
        report.Figure("uniform (cold) / one hot key (median before the restart), throughput", $"{coldRun.PerSecond / hot:0.00}");
        var activated = await service.ActivationsAsync();
        report.Note("activations after the cold run: " + string.Join(", ", activated.Where(a => a.Key.Contains("ApiKey")).Select(a => $"{ShortType(a.Key)} {a.Value}")));
        return service;
    }

    private static async Task<double> ValidateOnceAsync(HttpClient http, string key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/validate-api-key");
        request.Headers.Add("X-API-Key", key);
        var start = Stopwatch.GetTimestamp();
        using var response = await http.SendAsync(request);
        var ms = Stats.Since(start);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new InvalidOperationException($"validation answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }
        return ms;
    }

    private sealed record LoadResult(double PerSecond, long Requests, long NotOk, double P50, double P99, long DistinctKeys);

    /// <summary>Closed loop: <see cref="Options.Connections"/> connections each validating as fast as answers come, for
    /// <see cref="Options.Seconds"/>; one key for all, or a key drawn uniformly for every request.</summary>
    private async Task<LoadResult> LoadAsync(HttpClient http, List<string> keys, bool uniform, string label)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(options.Seconds * (double)Stopwatch.Frequency);
        var latencies = new ConcurrentBag<List<double>>();
        long requests = 0, notOk = 0;
        var touched = new ConcurrentDictionary<int, byte>();
        var started = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, options.Connections).Select(async c =>
        {
            var mine = new List<double>();
            latencies.Add(mine);
            while (Stopwatch.GetTimestamp() < deadline)
            {
                var index = uniform ? Random.Shared.Next(keys.Count) : 0;
                using var request = new HttpRequestMessage(HttpMethod.Post, "/api/validate-api-key");
                request.Headers.Add("X-API-Key", keys[index]);
                var start = Stopwatch.GetTimestamp();
                using var response = await http.SendAsync(request);
                await response.Content.ReadAsByteArrayAsync();
                mine.Add(Stats.Since(start));
                Interlocked.Increment(ref requests);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    Interlocked.Increment(ref notOk);
                }
                if (uniform)
                {
                    touched.TryAdd(index, 0);
                }
            }
        }));
        var seconds = Stats.Since(started) / 1000;
        var all = latencies.SelectMany(l => l).ToList();
        var result = new LoadResult(requests / seconds, requests, notOk, Stats.Percentile(all, 50), Stats.Percentile(all, 99), uniform ? touched.Count : 1);
        if (label != "warm-up")
        {
            report.Figure($"validations, {label}", $"{result.PerSecond:0} /s, p50 {Report.Ms(result.P50)}, p99 {Report.Ms(result.P99)}, "
                + $"{result.Requests} requests over {result.DistinctKeys} keys, {options.Connections} connections");
            report.Check(notOk == 0, $"{label}: every validation answered 200 ({notOk} did not)");
        }
        return result;
    }

    /// <summary>The service's CPU over a few idle seconds, in percent of one core.</summary>
    private static async Task<double> IdleCpuAsync(Child service)
    {
        await Task.Delay(TimeSpan.FromSeconds(5));
        var before = await service.CpuAsync();
        var clock = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(10));
        var after = await service.CpuAsync();
        return (after - before) / clock.Elapsed.TotalSeconds * 100;
    }

    private static Task ForEachAsync<T>(IEnumerable<T> items, int concurrency, Func<T, Task> action) =>
        Parallel.ForEachAsync(items, new ParallelOptions { MaxDegreeOfParallelism = concurrency }, async (item, _) => await action(item));
}

/// <summary>Open /ws sockets, each read by its own loop that notes when the message carrying the round's marker
/// arrives.</summary>
public sealed class Subscribers : IAsyncDisposable
{
    private readonly List<(EventSocketClient Socket, string Tenant)> _sockets;
    private readonly ConcurrentDictionary<(int Socket, string Marker), long> _arrived = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _readers = [];
    private volatile string _expected = "";

    private Subscribers(List<(EventSocketClient, string)> sockets) => _sockets = sockets;

    public static async Task<Subscribers> OpenAsync(Uri api, IReadOnlyList<(string Tenant, string Token)> who)
    {
        var sockets = new (EventSocketClient, string)[who.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, who.Count), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, _) =>
        {
            sockets[i] = (await EventSocketClient.ConnectAsync(api, who[i].Token), who[i].Tenant);
        });
        var subscribers = new Subscribers([.. sockets]);
        for (var i = 0; i < sockets.Length; i++)
        {
            var index = i;
            subscribers._readers.Add(Task.Run(() => subscribers.ReadAsync(index)));
        }
        return subscribers;
    }

    public void Expect(string marker) => _expected = marker;

    private async Task ReadAsync(int index)
    {
        var socket = _sockets[index].Socket.Socket;
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var result = await socket.ReceiveAsync(buffer, _stop.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return;
                }
                message.Write(buffer, 0, result.Count);
                if (!result.EndOfMessage)
                {
                    continue;
                }
                var now = Stopwatch.GetTimestamp();
                var text = Encoding.UTF8.GetString(message.GetBuffer(), 0, (int)message.Length);
                message.SetLength(0);
                var expected = _expected;
                if (expected.Length > 0 && text.Contains($"\"scale {expected}\"", StringComparison.Ordinal))
                {
                    _arrived.TryAdd((index, expected), now);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
        }
    }

    /// <summary>Waits until every socket of a tenant that was patched saw the marker (or the timeout); each socket's
    /// delay from its tenant's patch, and how many never saw it.</summary>
    public async Task<(List<double> Latencies, int Missing)> CollectAsync(string marker, IReadOnlyDictionary<string, long> sentAt, TimeSpan timeout)
    {
        var expected = Enumerable.Range(0, _sockets.Count).Where(i => sentAt.ContainsKey(_sockets[i].Tenant)).ToList();
        var deadline = DateTime.UtcNow + timeout;
        while (expected.Any(i => !_arrived.ContainsKey((i, marker))) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(5);
        }
        var latencies = new List<double>();
        var missing = 0;
        foreach (var i in expected)
        {
            if (_arrived.TryGetValue((i, marker), out var at))
            {
                latencies.Add((at - sentAt[_sockets[i].Tenant]) * 1000.0 / Stopwatch.Frequency);
            }
            else
            {
                missing++;
            }
        }
        return (latencies, missing);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_readers);
        await Parallel.ForEachAsync(_sockets, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (s, _) => await s.Socket.DisposeAsync());
        _stop.Dispose();
    }
}
