using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using Microsoft.AspNetCore.Builder;

namespace KubeEmulator.Tests;

/// <summary>One emulator per test class, started in-process on a random port and used over real HTTP.</summary>
public class EmulatorFixture : IAsyncLifetime
{
    public const string Group = "serving.kserve.io";
    public const string IsvcVersion = "v1beta1";
    public const string Plural = "inferenceservices";

    private WebApplication? _app;

    public string BaseAddress { get; private set; } = "";
    public Kubernetes Client { get; private set; } = null!;
    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(60) };
    public string KubeconfigPath { get; } = Path.Combine(Path.GetTempPath(), $"kube-emulator-{Guid.NewGuid():N}", "kubeconfig");

    protected virtual void Configure(EmulatorOptions options)
    {
        options.Urls = "http://127.0.0.1:0";
        options.ReadyDelay = TimeSpan.FromMilliseconds(300);
        options.BookmarkInterval = TimeSpan.FromMilliseconds(500);
        options.KubeconfigPath = KubeconfigPath;
    }

    public async Task InitializeAsync()
    {
        _app = KubeEmulatorApp.Build([], Configure);
        await _app.StartAsync();
        BaseAddress = _app.BaseAddress();
        Client = new Kubernetes(new KubernetesClientConfiguration { Host = BaseAddress });
    }

    public async Task DisposeAsync()
    {
        Client.Dispose();
        Http.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        Directory.Delete(Path.GetDirectoryName(KubeconfigPath)!, recursive: true);
    }

    /// <summary>Compacts the emulator's watch history (as etcd compaction does); the compacted resourceVersion.</summary>
    public long CompactWatchHistory() => _app!.CompactWatchHistory();

    /// <summary>Creates a fresh namespace so tests in one class do not see each other's objects.</summary>
    public async Task<string> NewNamespaceAsync()
    {
        var name = "t-" + Guid.NewGuid().ToString("N")[..10];
        await Client.CoreV1.CreateNamespaceAsync(new k8s.Models.V1Namespace { Metadata = new() { Name = name } });
        return name;
    }

    public static JsonObject Isvc(string name, JsonObject? predictor = null, JsonObject? labels = null) => new()
    {
        ["apiVersion"] = $"{Group}/{IsvcVersion}",
        ["kind"] = "InferenceService",
        ["metadata"] = new JsonObject { ["name"] = name, ["labels"] = labels ?? new JsonObject() },
        ["spec"] = new JsonObject
        {
            ["predictor"] = predictor ?? new JsonObject
            {
                ["sklearn"] = new JsonObject { ["storageUri"] = "gs://kfserving-examples/models/sklearn/1.0/model" },
            },
        },
    };

    public Task<JsonObject> CreateIsvcAsync(string ns, JsonObject body) =>
        Client.CustomObjects.CreateNamespacedCustomObjectAsync<JsonObject>(body, Group, IsvcVersion, ns, Plural);

    public Task<JsonObject> GetIsvcAsync(string ns, string name) =>
        Client.CustomObjects.GetNamespacedCustomObjectAsync<JsonObject>(Group, IsvcVersion, ns, Plural, name);

    /// <summary>
    /// Waits until the simulated controller has made the object Ready for its current generation, so no status write of
    /// its own is still to come.
    /// </summary>
    public Task<JsonObject> SettledIsvcAsync(string ns, string name) =>
        EventuallyAsync(() => GetIsvcAsync(ns, name), o =>
            o["status"]?["observedGeneration"]?.GetValue<long>() == o["metadata"]!["generation"]!.GetValue<long>()
            && o["status"]?["url"] is not null);

    /// <summary>Runs a call that must fail and returns the HTTP status and the parsed Status body.</summary>
    public static async Task<(int Code, JsonObject Status)> FailsAsync(Func<Task> call)
    {
        var error = await Assert.ThrowsAsync<HttpOperationException>(call);
        return ((int)error.Response.StatusCode, JsonNode.Parse(error.Response.Content)!.AsObject());
    }

    /// <summary>Polls until <paramref name="condition"/> holds; generous timeout, no timing assertions.</summary>
    public static async Task<T> EventuallyAsync<T>(Func<Task<T>> probe, Func<T, bool> condition, int timeoutSeconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (true)
        {
            var value = await probe();
            if (condition(value)) return value;
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not reached within the timeout");
            await Task.Delay(100);
        }
    }

    public static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Actors.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Actors.sln not found above the test binaries");
    }

    /// <summary>The project's shared fixtures, beside the repository; absent on a plain clone.</summary>
    public static string SharedFixturesDir() => Path.GetFullPath(Path.Combine(RepoRoot(), "..", "shared", "fixtures"));

    /// <summary>The repository's verbatim copies of the fixtures the tests read (see Fixtures/README.md).</summary>
    public static string FixturesDir() => Path.Combine(RepoRoot(), "tests", "KubeEmulator.Tests", "Fixtures");
}
