using System.Text.Json;
using k8s;
using Microsoft.Extensions.Logging;

namespace Inference.Grains.Kubernetes;

/// <summary>The list-then-watch loop every Kubernetes controller runs: list, hand over every object, watch from the
/// list's resourceVersion, resume from the last seen resourceVersion when the stream ends, and re-list when the
/// server says the version is too old (ERROR event, 410 Expired) or the stream fails.
/// <para>Every object has its own ordered lane (keyed by namespace/name): its events are handed over one after the
/// other, in the order the server sent them, while different objects are handed over side by side, at most
/// <see cref="Concurrency"/> at a time. A burst of status changes over many objects therefore costs about one hand-over
/// each in parallel, not one after another; one object's changes can never overtake each other.</para>
/// <para>An event that is not handed over yet is superseded by a newer event of the same object when it is an upsert
/// (the handler converges on the object's newest state); a delete is kept, so a delete followed by a re-creation of
/// the same name reaches the handler as both (only a delete right behind another is dropped: its object never reached
/// the handler).</para>
/// <para>Objects are isolated from each other: when handing one over fails, its lane waits for its own backoff (or
/// for a newer event of that object) and tries again, its later events queued behind in order, while every other
/// lane keeps flowing. One object that can never be handled therefore costs a log line per retry, never the watch.</para>
/// <para>The watch resumes from the last resourceVersion it received, although lanes may still hold events up to
/// it: the lanes outlive the stream, so what they hold is handed over after the resume just as before it. Everything
/// that loses the lanes (a stop, a lost lease, a restart) begins again with a full list. A re-list first lets the
/// hand-overs under way finish (none starts meanwhile), so no stale hand-over lands after the list's state of the same
/// object or after the list's "whatever is not listed is gone"; the list then supersedes every queued upsert, and
/// queued deletes are still handed over.</para>
/// All bookkeeping (the lanes, the resourceVersion) lives in the one loop of <see cref="RunAsync"/>; the hand-overs
/// only call the handler and report their outcome to that loop.</summary>
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
    /// <summary>How many objects are handed over at a time, from a list and from the watch: enough to overlap their
    /// grains' storage reads and writes, few enough that a re-list or a burst of changes does not flood the silo while
    /// it also serves requests.</summary>
    public const int Concurrency = 16;

    /// <summary>Lanes holding work, by object key. A lane is dropped when it holds nothing.</summary>
    private readonly Dictionary<string, Lane> _lanes = new(StringComparer.Ordinal);

    /// <summary>Keys of lanes whose first event may be handed over now, in the order they became ready.</summary>
    private readonly Queue<string> _ready = new();

    /// <summary>Keys of lanes waiting for their backoff after a failure.</summary>
    private readonly HashSet<string> _backingOff = new(StringComparer.Ordinal);

    private readonly Dictionary<Task<Exception?>, string> _running = [];

    private sealed class Lane
    {
        /// <summary>Events not handed over yet, oldest first; while <see cref="Running"/>, the first one is under way.</summary>
        public readonly List<(T Item, bool Deleted)> Events = [];

        public bool Running;

        public bool Ready;

        /// <summary>Failed attempts at the first event (0: not failing).</summary>
        public int Attempts;

        public DateTimeOffset Due;
    }

    public async Task RunAsync(CancellationToken stopping)
    {
        try
        {
            await ListAndWatchAsync(stopping);
        }
        finally
        {
            // Hand-overs under way finish before the watch counts as stopped (nothing new starts): the next holder of
            // the lease lists afresh, and a hand-over of this one landing after that list would undo its newer state.
            // (What this cannot cover, a holder that does not know yet that it lost the lease, the lease's epoch
            // fences: see IWatchLeaseGrain.)
            await SettleRunningAsync();
            metrics.RetryingChanged(-_lanes.Values.Count(l => l.Attempts > 0));
            metrics.Stopped(what);
            _lanes.Clear();
            _ready.Clear();
            _backingOff.Clear();
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
                await SettleRunningAsync();
                var listedAt = time.GetUtcNow();
                metrics.Relisted(what, reason);
                var (items, resourceVersion) = await list(stopping);
                metrics.Heard(what);
                Relist(items);
                // The list is handed over before the watch starts; objects that fail wait in their lanes for a retry
                // while the watch runs (not in this loop, which ends when every object was tried once).
                while (!stopping.IsCancellationRequested && Pump(retryDue: false))
                {
                    await Task.WhenAny(_running.Keys);
                }
                stopping.ThrowIfCancellationRequested();
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
            Pump();
            var next = events.MoveNextAsync().AsTask();
            try
            {
                while (true)
                {
                    if (await NextOutcomeAsync(next, stopping) != next)
                    {
                        Pump();
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
                            Enqueue(keyOf(item), item, deleted: false);
                            break;
                        case WatchEventType.Deleted:
                            Enqueue(keyOf(item), item, deleted: true);
                            break;
                        case WatchEventType.Error:
                            // 410 Expired or any other server-side failure: only a fresh list is safe.
                            throw new WatchExpiredException(what);
                    }
                    // Received is enough (see the class comment): the lanes keep what they have not handed over yet.
                    resourceVersion = resourceVersionOf(item) ?? resourceVersion;
                    // Before the next read, so that a flood of events does not hold back the lanes' progress.
                    Pump();
                    next = events.MoveNextAsync().AsTask();
                }
            }
            finally
            {
                // Only cancellation leaves a read in flight; the enumerator must not be disposed under it. (KubernetesClient's
                // own enumerator ends a cancelled read at once and disposes the body under the read it abandoned: the
                // client's KubernetesWatchStreams handler makes that close the connection rather than pool it.)
                await next.ContinueWith(_ => { }, TaskScheduler.Default);
                await events.DisposeAsync();
            }
            if (failure is not null)
            {
                throw new WatchExpiredException(what, failure);
            }
        }
    }

    /// <summary>Waits for the next event, a hand-over's end or the earliest retry, whichever comes first.</summary>
    private async Task<Task> NextOutcomeAsync(Task<bool> next, CancellationToken stopping)
    {
        stopping.ThrowIfCancellationRequested();
        if (next.IsCompleted)
        {
            return next;
        }
        var waits = new List<Task>(_running.Count + 2) { next };
        waits.AddRange(_running.Keys);
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        if (_backingOff.Count > 0)
        {
            var wait = _backingOff.Min(k => _lanes[k].Due) - time.GetUtcNow();
            waits.Add(wait <= TimeSpan.Zero ? Task.CompletedTask : Task.Delay(wait, time, timer.Token));
        }
        var first = await Task.WhenAny(waits);
        await timer.CancelAsync();
        return first;
    }

    /// <summary>Appends an event to its object's lane. An upsert not under way is superseded: by a newer event of the
    /// same object it would only be handed over to be overwritten. A lane waiting for its backoff is tried at once,
    /// with the newer event in it (the new state may be one that can be handled).</summary>
    private void Enqueue(string key, T item, bool deleted)
    {
        if (!_lanes.TryGetValue(key, out var lane))
        {
            _lanes[key] = lane = new Lane();
        }
        var queued = lane.Events.Count;
        if (queued > 0 && !lane.Events[^1].Deleted && !(lane.Running && queued == 1))
        {
            lane.Events.RemoveAt(queued - 1);
        }
        // A delete right behind another names an object whose upserts were all superseded behind that one: the
        // handler never saw it. Dropped, so that a name created and deleted over and over while its lane is held up
        // (a failing delete) keeps a lane of at most a delete and an upsert behind the head, not one entry per cycle.
        if (!(deleted && lane.Events.Count > 0 && lane.Events[^1].Deleted))
        {
            lane.Events.Add((item, deleted));
        }
        if (!lane.Running)
        {
            lane.Due = time.GetUtcNow();
            _backingOff.Remove(key);
            MakeReady(key, lane);
        }
    }

    /// <summary>A list is the truth (no hand-over is under way, see <see cref="SettleRunningAsync"/>): each listed object
    /// is handed over in its listed state, after any delete still queued for its name; a lane of an object that is no
    /// longer there keeps only its deletes.</summary>
    private void Relist(IReadOnlyList<T> items)
    {
        var listed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in items)
        {
            var key = keyOf(item);
            listed.Add(key);
            Enqueue(key, item, deleted: false);
        }
        foreach (var (key, lane) in _lanes.Where(l => !listed.Contains(l.Key)).ToList())
        {
            lane.Events.RemoveAll(e => !e.Deleted);
            if (lane.Events.Count == 0)
            {
                Drop(key, lane);
            }
            else
            {
                lane.Due = time.GetUtcNow();
                _backingOff.Remove(key);
                MakeReady(key, lane);
            }
        }
    }

    private void MakeReady(string key, Lane lane)
    {
        if (!lane.Ready)
        {
            lane.Ready = true;
            _ready.Enqueue(key);
        }
    }

    /// <summary>Lanes whose backoff is over become ready.</summary>
    private void ReadyDue()
    {
        if (_backingOff.Count == 0)
        {
            return;
        }
        var now = time.GetUtcNow();
        foreach (var key in _backingOff.Where(k => _lanes[k].Due <= now).ToList())
        {
            _backingOff.Remove(key);
            MakeReady(key, _lanes[key]);
        }
    }

    /// <summary>Records the hand-overs that ended, readies lanes whose backoff is over (unless told not to) and starts
    /// ready lanes while fewer than <see cref="Concurrency"/> hand-overs are under way; true while any is under way.</summary>
    private bool Pump(bool retryDue = true)
    {
        Harvest();
        if (retryDue)
        {
            ReadyDue();
        }
        while (_running.Count < Concurrency && _ready.TryDequeue(out var key))
        {
            // A lane dropped by a list, or started since, left its key behind in the queue.
            if (!_lanes.TryGetValue(key, out var lane) || !lane.Ready)
            {
                continue;
            }
            lane.Ready = false;
            lane.Running = true;
            var (item, deleted) = lane.Events[0];
            _running[TryHandleAsync(item, deleted)] = key;
        }
        return _running.Count > 0;
    }

    private void Harvest()
    {
        foreach (var handed in _running.Keys.Where(t => t.IsCompleted).ToList())
        {
            Complete(handed);
        }
    }

    /// <summary>Lets the hand-overs under way finish, starting none.</summary>
    private async Task SettleRunningAsync()
    {
        while (_running.Count > 0)
        {
            await Task.WhenAny(_running.Keys);
            Harvest();
        }
    }

    /// <summary>The bookkeeping of one hand-over: a success moves its lane on, a failure keeps the event first in its
    /// lane and sets the lane aside for its backoff.</summary>
    private void Complete(Task<Exception?> handed)
    {
        _running.Remove(handed, out var key);
        var lane = _lanes[key!];
        lane.Running = false;
        var failure = handed.Result;
        if (failure is null)
        {
            lane.Events.RemoveAt(0);
            if (lane.Attempts > 0)
            {
                logger.LogInformation("{What} {Object} handled after {Attempts} failed attempts", what, Display(key!), lane.Attempts);
                lane.Attempts = 0;
                metrics.RetryingChanged(-1);
            }
            if (lane.Events.Count == 0)
            {
                Drop(key!, lane);
            }
            else
            {
                MakeReady(key!, lane);
            }
            return;
        }
        metrics.Failed();
        if (++lane.Attempts == 1)
        {
            metrics.RetryingChanged(1);
        }
        var backoff = retry.After(lane.Attempts);
        lane.Due = time.GetUtcNow() + backoff;
        if (!lane.Events[0].Deleted && lane.Events.Count > 1)
        {
            // A newer event of the object arrived while this upsert was under way: it supersedes the upsert that failed
            // and is tried at once, as any newer event of a failing object is.
            lane.Events.RemoveAt(0);
            lane.Due = time.GetUtcNow();
            MakeReady(key!, lane);
        }
        else
        {
            _backingOff.Add(key!);
        }
        // The first failure with its stack; the retries of an object that keeps failing with its message only.
        logger.LogWarning(lane.Attempts == 1 ? failure : null,
            "Handling {What} {Object} failed (attempt {Attempts}); other objects go on, this one is retried in {Backoff}: {Message}",
            what, Display(key!), lane.Attempts, backoff, failure.Message);
    }

    private void Drop(string key, Lane lane)
    {
        lane.Ready = false;
        _lanes.Remove(key);
        _backingOff.Remove(key);
        if (lane.Attempts > 0)
        {
            metrics.RetryingChanged(-1);
        }
    }

    /// <summary>Hands one object to the handler; its failure, or null. Touches no state of this watch, so objects
    /// may be handed over concurrently.</summary>
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
