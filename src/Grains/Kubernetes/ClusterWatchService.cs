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
/// cluster keeps one watch per resource, and another silo takes over within a lease period when it dies. Every
/// hand-over carries the epoch of the grant it runs under, so that one landing after a newer holder's is ignored.</summary>
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
        var lease = grains.GetGrain<IWatchLeaseGrain>(IWatchLeaseGrain.ClusterWatch);
        var me = silo.SiloAddress.ToParsableString();
        while (!stoppingToken.IsCancellationRequested)
        {
            if (await TryAcquire(lease, me) is not { } epoch)
            {
                await Delay(Renew, stoppingToken);
                continue;
            }
            _logger.LogInformation("Silo {Silo} holds the cluster watch (epoch {Epoch})", me, epoch);
            using var leadership = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            // One epoch for the whole tenure, re-lists after a 410 included: they follow its earlier hand-overs in
            // each object's lane, so nothing of this holder's needs fencing from the rest of it.
            var watches = Task.WhenAll(
                InferenceServices(epoch).RunAsync(leadership.Token),
                Deployments(epoch).RunAsync(leadership.Token));
            // A renewal under another epoch means the lease went to another silo and came back: grains may have seen
            // that holder's newer epoch and would fence this tenure's hand-overs, so it ends and a new one lists afresh.
            while (!stoppingToken.IsCancellationRequested && await TryAcquire(lease, me) == epoch)
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
                _logger.LogWarning("Silo {Silo} lost the cluster watch lease (epoch {Epoch})", me, epoch);
            }
        }
    }

    private async Task<long?> TryAcquire(IWatchLeaseGrain lease, string me)
    {
        try
        {
            return await lease.TryAcquireAsync(me, Lease);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _logger.LogDebug("Watch lease unavailable: {Message}", e.Message);
            return null;
        }
    }

    private Task Delay(TimeSpan delay, CancellationToken token) =>
        Task.Delay(delay, time, token).ContinueWith(_ => { }, TaskScheduler.Default);

    private ResourceWatch<JsonElement> InferenceServices(long epoch)
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
            new InferenceServiceWatchHandler(grains, epoch, metrics, _logger),
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

    private ResourceWatch<V1Deployment> Deployments(long epoch) => new(
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
        new PredictorDeploymentWatchHandler(grains, epoch),
        Retry, metrics, _logger, time);
}
