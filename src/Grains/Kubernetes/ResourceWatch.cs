using System.Text.Json;
using k8s;
using Inference.Grains.Tenants;
using Microsoft.Extensions.Logging;

namespace Inference.Grains.Kubernetes;

/// <summary>The list-then-watch loop every Kubernetes controller runs: list, hand over every object, watch from the
/// list's resourceVersion, resume from the last seen resourceVersion when the stream ends, and re-list when the
/// server says the version is too old (ERROR event, 410 Expired) or the stream fails.
/// <para>Objects are isolated from each other: when handing one over fails, that object alone is set aside and
/// retried with its own backoff (its newest version, should it change meanwhile), while every other object's changes
/// keep flowing. One object that can never be handled therefore costs a log line per retry, never the watch.</para>
/// A list is handed over a bounded number of objects at a time: it names every object once, so no object's changes
/// can overtake each other, and a restart with thousands of objects is not one storage round trip after another.
/// Events of the running watch are handed over one at a time, in order. All bookkeeping (objects set aside, the
/// resourceVersion) lives in the one loop of <see cref="RunAsync"/>.</summary>
public sealed class ResourceWatch<T>(
    string what,
    Func<CancellationToken, Task<(IReadOnlyList<T> Items, string ResourceVersion)>> list,
    Func<string, Action<Exception>, CancellationToken, IAsyncEnumerable<(WatchEventType Type, T Object)>> watch,
    Func<T, string?> resourceVersionOf,
    Func<T, string> keyOf,
    IResourceWatchHandler<T> handler,
    WatchRetry retry,
    WatchMetrics metrics,
    ILogger logger,
    TimeProvider time)
{
    /// <summary>How many objects of a list are handed over at a time: enough to overlap their grains' storage reads
    /// and writes, few enough that a re-list does not flood the silo while it also serves requests.</summary>
    public const int ListConcurrency = 16;

    private readonly Dictionary<string, Failing> _failing = new(StringComparer.Ordinal);

    private sealed record Failing(T Item, bool Deleted, int Attempts, DateTimeOffset Due);

    public async Task RunAsync(CancellationToken stopping)
    {
        try
        {
            await ListAndWatchAsync(stopping);
        }
        finally
        {
            metrics.RetryingChanged(-_failing.Count);
            metrics.Stopped(what);
            _failing.Clear();
        }
    }

    private async Task ListAndWatchAsync(CancellationToken stopping)
    {
        var delay = TimeSpan.FromMilliseconds(250);
        var reason = "start";
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                var listedAt = time.GetUtcNow();
                metrics.Relisted(what, reason);
                var (items, resourceVersion) = await list(stopping);
                metrics.Heard(what);
                var listed = new HashSet<string>(StringComparer.Ordinal);
                var failures = await FanOut.SelectAsync(items, ListConcurrency, item => TryHandleAsync(item, deleted: false));
                for (var i = 0; i < items.Count; i++)
                {
                    var key = keyOf(items[i]);
                    listed.Add(key);
                    Record(key, items[i], deleted: false, failures[i]);
                }
                // The list is the truth: an object set aside that is no longer there needs nothing more from us.
                foreach (var gone in _failing.Keys.Where(k => !listed.Contains(k)).ToList())
                {
                    Forget(gone);
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
                reason = e is WatchExpiredException ? "expired" : "error";
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
            var events = watch(resourceVersion, e => failure ??= e, stopping).GetAsyncEnumerator(stopping);
            var next = events.MoveNextAsync().AsTask();
            try
            {
                while (true)
                {
                    await RetryDueAsync();
                    if (!await NextEventOrRetryDueAsync(next, stopping))
                    {
                        continue;
                    }
                    if (!await next)
                    {
                        break;
                    }
                    var (type, item) = events.Current;
                    metrics.Heard(what);
                    switch (type)
                    {
                        case WatchEventType.Added or WatchEventType.Modified:
                            await HandleAsync(keyOf(item), item, deleted: false);
                            break;
                        case WatchEventType.Deleted:
                            await HandleAsync(keyOf(item), item, deleted: true);
                            break;
                        case WatchEventType.Error:
                            // 410 Expired or any other server-side failure: only a fresh list is safe.
                            throw new WatchExpiredException(what);
                    }
                    resourceVersion = resourceVersionOf(item) ?? resourceVersion;
                    next = events.MoveNextAsync().AsTask();
                }
            }
            finally
            {
                // Only cancellation leaves a read in flight; the enumerator must not be disposed under it.
                await next.ContinueWith(_ => { }, TaskScheduler.Default);
                await events.DisposeAsync();
            }
            if (failure is not null)
            {
                throw new WatchExpiredException(what, failure);
            }
        }
    }

    /// <summary>Waits for the next event, or until the earliest retry is due; true when the event came first.</summary>
    private async Task<bool> NextEventOrRetryDueAsync(Task<bool> next, CancellationToken stopping)
    {
        stopping.ThrowIfCancellationRequested();
        if (next.IsCompleted || _failing.Count == 0)
        {
            return true;
        }
        var wait = _failing.Values.Min(f => f.Due) - time.GetUtcNow();
        if (wait <= TimeSpan.Zero)
        {
            return false;
        }
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        var due = Task.Delay(wait, time, timer.Token);
        var first = await Task.WhenAny(next, due);
        await timer.CancelAsync();
        return first == next;
    }

    private async Task RetryDueAsync()
    {
        if (_failing.Count == 0)
        {
            return;
        }
        var now = time.GetUtcNow();
        foreach (var (key, failing) in _failing.Where(f => f.Value.Due <= now).ToList())
        {
            await HandleAsync(key, failing.Item, failing.Deleted);
        }
    }

    private async Task HandleAsync(string key, T item, bool deleted) => Record(key, item, deleted, await TryHandleAsync(item, deleted));

    /// <summary>Hands one object to the handler; its failure, or null. Touches no state of this watch, so objects of a
    /// list may be handed over concurrently.</summary>
    private async Task<Exception?> TryHandleAsync(T item, bool deleted)
    {
        try
        {
            if (deleted)
            {
                await handler.DeletedAsync(item);
            }
            else
            {
                await handler.UpsertAsync(item);
            }
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }

    /// <summary>The bookkeeping of one hand-over: a success ends the object's retries, a failure sets it aside.</summary>
    private void Record(string key, T item, bool deleted, Exception? failure)
    {
        if (failure is null)
        {
            if (_failing.TryGetValue(key, out var was))
            {
                logger.LogInformation("{What} {Object} handled after {Attempts} failed attempts", what, Display(key), was.Attempts);
                Forget(key);
            }
        }
        else
        {
            metrics.Failed();
            var attempts = 1;
            if (_failing.TryGetValue(key, out var was))
            {
                attempts = was.Attempts + 1;
            }
            else
            {
                metrics.RetryingChanged(1);
            }
            var backoff = retry.After(attempts);
            _failing[key] = new Failing(item, deleted, attempts, time.GetUtcNow() + backoff);
            // The first failure with its stack; the retries of an object that keeps failing with its message only.
            logger.LogWarning(attempts == 1 ? failure : null,
                "Handling {What} {Object} failed (attempt {Attempts}); other objects go on, this one is retried in {Backoff}: {Message}",
                what, Display(key), attempts, backoff, failure.Message);
        }
    }

    private void Forget(string key)
    {
        if (_failing.Remove(key))
        {
            metrics.RetryingChanged(-1);
        }
    }

    /// <summary>A name that failed may hold anything (a newline, say): logged JSON-escaped, it stays one line.</summary>
    private static string Display(string key) => JsonSerializer.Serialize(key);
}

/// <summary>Backoff of one failing object: doubling from <see cref="Min"/> up to <see cref="Max"/>.</summary>
public sealed record WatchRetry(TimeSpan Min, TimeSpan Max)
{
    public TimeSpan After(int attempts)
    {
        var factor = Math.Pow(2, Math.Min(attempts - 1, 30));
        return TimeSpan.FromTicks((long)Math.Min(Min.Ticks * factor, Max.Ticks));
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
