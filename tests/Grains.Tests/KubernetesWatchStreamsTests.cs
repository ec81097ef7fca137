using System.Diagnostics.Metrics;
using Inference.Shared.Kubernetes;
using Inference.TestSupport;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Hosting.Kubernetes;

namespace Inference.Grains.Tests;

/// <summary>A watch given up (a watch tenure ending, the silo stopping) must take its connection with it: the client
/// the service builds (AddKubernetesClient) against the emulator, its connections counted from the HTTP handler's own
/// metrics.</summary>
public sealed class KubernetesWatchStreamsTests : IAsyncLifetime
{
    private const string Namespace = "default";

    private EmulatorHost _emulator = null!;
    private ServiceProvider _services = null!;
    private IKubernetes _client = null!;
    private MeterListener _connections = null!;
    private long _open;

    public async Task InitializeAsync()
    {
        _emulator = await EmulatorHost.StartAsync();
        var port = new Uri(_emulator.BaseAddress).Port;
        // Every HTTP client of the process reports here; only connections to this test's own emulator count.
        _connections = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument is { Meter.Name: "System.Net.Http", Name: "http.client.open_connections" })
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        _connections.SetMeasurementEventCallback<long>((_, delta, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag is { Key: "server.port", Value: { } p } && Convert.ToInt32(p, System.Globalization.CultureInfo.InvariantCulture) == port)
                {
                    Interlocked.Add(ref _open, delta);
                }
            }
        });
        _connections.Start();
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["KUBECONFIG"] = _emulator.KubeconfigPath })
            .Build();
        _services = new ServiceCollection().AddSingleton<IConfiguration>(configuration).AddKubernetesClient(configuration)
            .BuildServiceProvider();
        _client = _services.GetRequiredService<IKubernetes>();
    }

    public async Task DisposeAsync()
    {
        _connections.Dispose();
        await _services.DisposeAsync();
        await _emulator.DisposeAsync();
    }

    private long OpenConnections => Interlocked.Read(ref _open);

    [Fact]
    public async Task A_watch_cancelled_while_it_waits_for_an_event_closes_its_connection()
    {
        using var stop = new CancellationTokenSource();
        var (events, next) = await WatchWaitingForAnEventAsync(stop.Token);
        var whileWatching = OpenConnections;

        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => next);
        await events.DisposeAsync();

        // KubernetesClient stops waiting for its read and disposes the body under it; left alone, that read keeps
        // receiving while the connection is drained for the pool (and goes back into it if the server ends the
        // stream meanwhile). Cut, the read is aborted and the connection closed before the cancellation returns.
        Assert.Equal(whileWatching - 1, OpenConnections);
    }

    [Fact]
    public Task Calls_after_watches_given_up_just_before_a_compaction_get_their_own_answers() =>
        // The stall seen in the cluster: a watch tenure ends, a compaction ends every watch with a 410 right after,
        // and a model create sent on a connection a given-up watch left behind never got its answer.
        CallsAfterWatchesGivenUpGetTheirOwnAnswersAsync(_client, "after");

    [Fact]
    public async Task The_kubernetes_hosting_client_sends_no_call_on_a_connection_a_given_up_watch_left()
    {
        // Orleans' Kubernetes hosting (a silo in a pod) builds its client itself, from the configuration the silo gives
        // it, with no handler of ours (docs/reliability.md): built here the same way, as its agent does.
        var options = new ServiceCollection().AddSingleton(_services.GetRequiredService<IOptions<KubernetesOptions>>());
        Inference.Silo.KubernetesHosting.Configure(options.AddOptions<KubernetesHostingOptions>());
        using var hosting = options.BuildServiceProvider();
        using var client = new k8s.Kubernetes(hosting.GetRequiredService<IOptions<KubernetesHostingOptions>>().Value.GetClientConfiguration());
        await CallsAfterWatchesGivenUpGetTheirOwnAnswersAsync(client, "hosting");
    }

    private async Task CallsAfterWatchesGivenUpGetTheirOwnAnswersAsync(IKubernetes client, string prefix)
    {
        for (var round = 0; round < 20; round++)
        {
            using var stop = new CancellationTokenSource();
            var (events, next) = await WatchWaitingForAnEventAsync(client, stop.Token);
            await stop.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => next);
            await events.DisposeAsync();
            _emulator.CompactWatchHistory();
            for (var call = 0; call < 3; call++)
            {
                var created = await Bounded(ct => client.CoreV1.CreateNamespacedConfigMapAsync(
                    ConfigMap($"{prefix}-{round}-{call}"), Namespace, cancellationToken: ct));
                Assert.Equal($"{prefix}-{round}-{call}", created.Metadata.Name);
            }
        }
    }

    /// <summary>A watch from the current resourceVersion that has handed over one event (so its call has returned)
    /// and is reading the next, which does not come.</summary>
    private Task<(IAsyncEnumerator<(WatchEventType, V1ConfigMap)> Events, Task<bool> Next)> WatchWaitingForAnEventAsync(
        CancellationToken stop) => WatchWaitingForAnEventAsync(_client, stop);

    private static async Task<(IAsyncEnumerator<(WatchEventType, V1ConfigMap)> Events, Task<bool> Next)> WatchWaitingForAnEventAsync(
        IKubernetes client, CancellationToken stop)
    {
        var list = await Bounded(ct => client.CoreV1.ListNamespacedConfigMapAsync(Namespace, cancellationToken: ct));
        var events = client.CoreV1.WatchListNamespacedConfigMapAsync(Namespace,
            resourceVersion: list.Metadata.ResourceVersion, cancellationToken: stop).GetAsyncEnumerator(stop);
        var first = events.MoveNextAsync().AsTask();
        var name = "w" + Guid.NewGuid().ToString("N")[..8];
        await Bounded(ct => client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap(name), Namespace, cancellationToken: ct));
        Assert.True(await first);
        Assert.Equal(name, events.Current.Item2.Metadata.Name);
        return (events, events.MoveNextAsync().AsTask());
    }

    /// <summary>A call as the grains make it: one whose answer never comes fails (its bound is no timing asserted,
    /// only the way a lost answer shows).</summary>
    private static Task<T> Bounded<T>(Func<CancellationToken, Task<T>> call) =>
        KubernetesErrors.Call(call, "call", TimeSpan.FromSeconds(30));

    private static V1ConfigMap ConfigMap(string name) => new() { Metadata = new V1ObjectMeta { Name = name } };
}
