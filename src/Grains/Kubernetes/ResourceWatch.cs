using k8s;
using Microsoft.Extensions.Logging;

namespace Inference.Grains.Kubernetes;

/// <summary>The list-then-watch loop every Kubernetes controller runs: list, hand over every object, watch from the
/// list's resourceVersion, resume from the last seen resourceVersion when the stream ends, and re-list when the
/// server says the version is too old (ERROR event, 410 Expired) or anything else goes wrong.</summary>
public sealed class ResourceWatch<T>(
    string what,
    Func<CancellationToken, Task<(IReadOnlyList<T> Items, string ResourceVersion)>> list,
    Func<string, Action<Exception>, CancellationToken, IAsyncEnumerable<(WatchEventType Type, T Object)>> watch,
    Func<T, string?> resourceVersionOf,
    IResourceWatchHandler<T> handler,
    ILogger logger,
    TimeProvider time)
{
    public async Task RunAsync(CancellationToken stopping)
    {
        var delay = TimeSpan.FromMilliseconds(250);
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                var listedAt = time.GetUtcNow();
                var (items, resourceVersion) = await list(stopping);
                foreach (var item in items)
                {
                    await handler.UpsertAsync(item);
                }
                await handler.RelistedAsync(items, listedAt);
                logger.LogInformation("Listed {Count} {What} at resourceVersion {ResourceVersion}", items.Count, what, resourceVersion);
                delay = TimeSpan.FromMilliseconds(250);
                await WatchFromAsync(resourceVersion, stopping);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogWarning("Watch of {What} failed, re-listing in {Delay}: {Message}", what, delay, e.Message);
                await Task.Delay(delay, time, stopping).ContinueWith(_ => { }, TaskScheduler.Default);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
            }
        }
    }

    private async Task WatchFromAsync(string resourceVersion, CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            // KubernetesClient reports an ERROR event (410 Expired) through this callback, not as an event.
            Exception? failure = null;
            await foreach (var (type, item) in watch(resourceVersion, e => failure ??= e, stopping))
            {
                switch (type)
                {
                    case WatchEventType.Added or WatchEventType.Modified:
                        await handler.UpsertAsync(item);
                        break;
                    case WatchEventType.Deleted:
                        await handler.DeletedAsync(item);
                        break;
                    case WatchEventType.Error:
                        // 410 Expired or any other server-side failure: only a fresh list is safe.
                        throw new WatchExpiredException(what);
                }
                resourceVersion = resourceVersionOf(item) ?? resourceVersion;
            }
            if (failure is not null)
            {
                throw new WatchExpiredException(what, failure);
            }
        }
    }
}

public interface IResourceWatchHandler<in T>
{
    Task UpsertAsync(T item);

    Task DeletedAsync(T item);

    /// <summary>A full list, begun at <paramref name="listedAt"/>, has been handed over; whatever it lacks is gone.</summary>
    Task RelistedAsync(IReadOnlyCollection<T> items, DateTimeOffset listedAt);
}

public sealed class WatchExpiredException(string what, Exception? inner = null)
    : Exception($"The watch of {what} ended with an error: {inner?.Message ?? "ERROR event"}", inner);
