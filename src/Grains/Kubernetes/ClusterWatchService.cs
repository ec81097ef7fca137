using System.Text.Json;
using Inference.Grains.Abstractions.Models;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Inference.Shared.Kubernetes;

namespace Inference.Grains.Kubernetes;

/// <summary>Runs in every silo; only the silo holding the watch lease runs the cluster-wide watches, so the whole
/// cluster keeps one watch per resource, and another silo takes over within a lease period when it dies.</summary>
public sealed class ClusterWatchService(
    IKubernetes client,
    IGrainFactory grains,
    ILocalSiloDetails silo,
    IOptions<KubernetesOptions> options,
    TimeProvider time,
    WatchMetrics metrics,
    ILoggerFactory loggers) : BackgroundService
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan Renew = TimeSpan.FromSeconds(4);

    private readonly ILogger _logger = loggers.CreateLogger<ClusterWatchService>();

    private WatchRetry Retry => new(options.Value.WatchRetryMin, options.Value.WatchRetryMax);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var lease = grains.GetGrain<IWatchLeaseGrain>("cluster-watch");
        var me = silo.SiloAddress.ToParsableString();
        while (!stoppingToken.IsCancellationRequested)
        {
            if (!await TryAcquire(lease, me))
            {
                await Delay(Renew, stoppingToken);
                continue;
            }
            _logger.LogInformation("Silo {Silo} holds the cluster watch", me);
            using var leadership = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            var watches = Task.WhenAll(
                InferenceServices().RunAsync(leadership.Token),
                Deployments().RunAsync(leadership.Token));
            while (!stoppingToken.IsCancellationRequested && await TryAcquire(lease, me))
            {
                await Delay(Renew, stoppingToken);
            }
            await leadership.CancelAsync();
            await watches;
            if (stoppingToken.IsCancellationRequested)
            {
                await lease.ReleaseAsync(me).WaitAsync(TimeSpan.FromSeconds(2), CancellationToken.None)
                    .ContinueWith(_ => { }, TaskScheduler.Default);
            }
            else
            {
                _logger.LogWarning("Silo {Silo} lost the cluster watch lease", me);
            }
        }
    }

    private async Task<bool> TryAcquire(IWatchLeaseGrain lease, string me)
    {
        try
        {
            return await lease.TryAcquireAsync(me, Lease);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _logger.LogDebug("Watch lease unavailable: {Message}", e.Message);
            return false;
        }
    }

    private Task Delay(TimeSpan delay, CancellationToken token) =>
        Task.Delay(delay, time, token).ContinueWith(_ => { }, TaskScheduler.Default);

    private ResourceWatch<JsonElement> InferenceServices()
    {
        var selector = options.Value.ManagedSelector;
        return new ResourceWatch<JsonElement>(
            "inferenceservices",
            async ct =>
            {
                var list = Kubernetes.InferenceServices.ToElement(await client.CustomObjects.ListClusterCustomObjectAsync(
                    Kubernetes.InferenceServices.Group, Kubernetes.InferenceServices.Version,
                    Kubernetes.InferenceServices.Plural, labelSelector: selector, cancellationToken: ct));
                var items = list.GetProperty("items").EnumerateArray().Select(i => i.Clone()).ToList();
                return (items, list.GetProperty("metadata").GetProperty("resourceVersion").GetString() ?? "");
            },
            (rv, onError, ct) => WatchInferenceServices(selector, rv, onError, ct),
            item => item.TryGetProperty("metadata", out var m) && m.TryGetProperty("resourceVersion", out var rv)
                ? rv.GetString()
                : null,
            InferenceServiceWatchHandler.ObjectKey,
            new InferenceServiceWatchHandler(grains, metrics, _logger),
            Retry, metrics, _logger, time);
    }

    private async IAsyncEnumerable<(WatchEventType, JsonElement)> WatchInferenceServices(
        string selector, string resourceVersion, Action<Exception> onError,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        await foreach (var (type, item) in client.CustomObjects.WatchListClusterCustomObjectAsync(
            Kubernetes.InferenceServices.Group, Kubernetes.InferenceServices.Version, Kubernetes.InferenceServices.Plural,
            allowWatchBookmarks: true, labelSelector: selector, resourceVersion: resourceVersion,
            timeoutSeconds: 300, onError: onError, cancellationToken: ct))
        {
            yield return (type, Kubernetes.InferenceServices.ToElement(item));
        }
    }

    private ResourceWatch<V1Deployment> Deployments() => new(
        "predictor deployments",
        async ct =>
        {
            var list = await client.AppsV1.ListDeploymentForAllNamespacesAsync(
                labelSelector: PredictorDeploymentWatchHandler.InferenceServiceLabel, cancellationToken: ct);
            return (list.Items.ToList(), list.Metadata.ResourceVersion);
        },
        (rv, onError, ct) => client.AppsV1.WatchListDeploymentForAllNamespacesAsync(
            allowWatchBookmarks: true, labelSelector: PredictorDeploymentWatchHandler.InferenceServiceLabel,
            resourceVersion: rv, timeoutSeconds: 300, onError: onError, cancellationToken: ct),
        item => item.Metadata?.ResourceVersion,
        item => $"{item.Metadata?.NamespaceProperty}/{item.Metadata?.Name}",
        new PredictorDeploymentWatchHandler(grains),
        Retry, metrics, _logger, time);
}
