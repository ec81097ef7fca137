using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Inference.Grains.Kubernetes;
using Inference.TestSupport;
using k8s;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Inference.Grains.Tests;

/// <summary>Watch events are handed over in ordered lanes, one per object: before, every event waited for the one
/// before it, so a hundred tenants' status changes at once reached the last tenant's subscribers seconds later
/// (docs/scale.md, Events). These tests drive <see cref="ResourceWatch{T}"/> with a scripted cluster and a handler
/// whose hand-overs the test holds open, fails or lets through.</summary>
public sealed class ResourceWatchLaneTests
{
    [Fact]
    public async Task Events_of_different_objects_are_handed_over_side_by_side_but_at_most_Concurrency_at_a_time()
    {
        var cluster = new ScriptedCluster();
        var objects = ResourceWatch<Obj>.Concurrency + 8;
        for (var i = 0; i < objects; i++)
        {
            cluster.Handler.Hold(new Obj($"ns/object-{i}", i + 2));
            cluster.Push(WatchEventType.Modified, new Obj($"ns/object-{i}", i + 2));
        }
        await using var watch = cluster.Start();

        // The watch has read every event and started whatever it would start before asking for more.
        await cluster.ReadAsync(objects);
        Assert.Equal(ResourceWatch<Obj>.Concurrency, cluster.Handler.InFlight);

        cluster.Handler.ReleaseAll();
        await Until(() => cluster.Handler.Succeeded.Count == objects, "every object to be handed over");
        Assert.Equal(ResourceWatch<Obj>.Concurrency, cluster.Handler.MostAtOnce);
    }

    [Fact]
    public async Task One_objects_events_stay_in_order_behind_its_hand_over_under_way_while_other_objects_go_on()
    {
        var cluster = new ScriptedCluster();
        cluster.Handler.Hold(new Obj("ns/a", 2));
        cluster.Push(WatchEventType.Added, new Obj("ns/a", 2));
        cluster.Push(WatchEventType.Modified, new Obj("ns/a", 3));
        cluster.Push(WatchEventType.Deleted, new Obj("ns/a", 4));
        cluster.Push(WatchEventType.Added, new Obj("ns/a", 5));
        cluster.Push(WatchEventType.Modified, new Obj("ns/a", 6));
        cluster.Push(WatchEventType.Modified, new Obj("ns/b", 7));
        await using var watch = cluster.Start();

        await Until(() => cluster.Handler.HasSucceeded(new Obj("ns/b", 7)), "another object's event while ns/a's first is held");
        cluster.Handler.ReleaseAll();
        await Until(() => cluster.Handler.HasSucceeded(new Obj("ns/a", 6)), "ns/a's last event");

        // In the server's order. The upsert at 3 was superseded by the delete before its turn came (the handler
        // converges on the newest state), and 5 by 6; the delete itself is never dropped, so the re-created object
        // at 5-6 reaches the handler after it.
        Assert.Equal(["+ns/a@2", "-ns/a@4", "+ns/a@6"], cluster.Handler.Attempts("ns/a"));
    }

    [Fact]
    public async Task A_failing_object_is_retried_in_its_own_lane_in_order_and_blocks_no_other()
    {
        var cluster = new ScriptedCluster(retry: TimeSpan.FromMilliseconds(50));
        cluster.Handler.Fail(new Obj("ns/f", 2), deleted: true);
        cluster.Push(WatchEventType.Deleted, new Obj("ns/f", 2));
        cluster.Push(WatchEventType.Added, new Obj("ns/f", 3));
        cluster.Push(WatchEventType.Modified, new Obj("ns/g", 4));
        await using var watch = cluster.Start();

        await Until(() => cluster.Handler.HasSucceeded(new Obj("ns/g", 4)) && cluster.Handler.Attempts("ns/f").Count >= 3,
            "another object handled while ns/f's delete fails and is retried");
        // The re-created object waits behind the delete that has not gone through yet: handing it over first would
        // let the new object take over the deleted one's publication.
        Assert.All(cluster.Handler.Attempts("ns/f"), a => Assert.Equal("-ns/f@2", a));

        cluster.Handler.Heal(new Obj("ns/f", 2));
        await Until(() => cluster.Handler.HasSucceeded(new Obj("ns/f", 3)), "ns/f's re-creation after its delete went through");
        Assert.Equal(["-ns/f@2", "+ns/f@3"], cluster.Handler.SucceededOf("ns/f"));
    }

    [Fact]
    public async Task A_name_created_and_deleted_over_and_over_behind_a_failing_delete_queues_no_more_than_one_delete()
    {
        var cluster = new ScriptedCluster(retry: TimeSpan.FromMilliseconds(50));
        cluster.Handler.Fail(new Obj("ns/f", 2), deleted: true);
        cluster.Push(WatchEventType.Deleted, new Obj("ns/f", 2));
        for (var v = 3; v < 43; v += 2)
        {
            cluster.Push(WatchEventType.Added, new Obj("ns/f", v));
            cluster.Push(WatchEventType.Deleted, new Obj("ns/f", v + 1));
        }
        cluster.Push(WatchEventType.Modified, new Obj("ns/g", 50));
        await using var watch = cluster.Start();
        await cluster.ReadAsync(42);

        cluster.Handler.Heal(new Obj("ns/f", 2));
        cluster.Push(WatchEventType.Added, new Obj("ns/f", 100));
        await Until(() => cluster.Handler.HasSucceeded(new Obj("ns/f", 100)), "the name's last creation, behind everything queued before it");
        // Every object created after the first delete was superseded unseen, so its delete had nothing to undo: the
        // lane held the failing delete alone, not twenty more (memory an endless create/delete loop would grow).
        Assert.Equal(["-ns/f@2", "+ns/f@100"], cluster.Handler.SucceededOf("ns/f"));
        Assert.True(cluster.Handler.HasSucceeded(new Obj("ns/g", 50)));
    }

    [Fact]
    public async Task The_watch_resumes_after_the_last_event_received_and_its_lanes_still_hand_over_what_they_hold()
    {
        var cluster = new ScriptedCluster(retry: TimeSpan.FromMilliseconds(50));
        cluster.Handler.Hold(new Obj("ns/a", 11));
        cluster.Handler.Fail(new Obj("ns/c", 12), deleted: false, times: 1);
        cluster.Push(WatchEventType.Modified, new Obj("ns/a", 11));
        cluster.Push(WatchEventType.Modified, new Obj("ns/c", 12));
        cluster.EndStream();
        cluster.Push(WatchEventType.Modified, new Obj("ns/b", 13));
        await using var watch = cluster.Start();

        // The stream ended while ns/a's event was held and ns/c's had failed: the watch went on from 12 (the list's
        // version was 1) without waiting for them, and events after the resume flow.
        await Until(() => cluster.Handler.HasSucceeded(new Obj("ns/b", 13)), "an event of the resumed stream");
        Assert.Equal(["1", "12"], cluster.Opened);

        // Nothing received before the resume is lost: the held event and the failed one are handed over, once each.
        cluster.Handler.ReleaseAll();
        await Until(() => cluster.Handler.HasSucceeded(new Obj("ns/a", 11)) && cluster.Handler.HasSucceeded(new Obj("ns/c", 12)),
            "the events received before the resume");
        Assert.Equal(["+ns/a@11"], cluster.Handler.SucceededOf("ns/a"));
        Assert.Equal(["+ns/c@12"], cluster.Handler.SucceededOf("ns/c"));
        Assert.Equal(["+ns/c@12", "+ns/c@12"], cluster.Handler.Attempts("ns/c"));
    }

    [Fact]
    public async Task A_relist_waits_for_hand_overs_under_way_then_supersedes_queued_upserts_and_keeps_queued_deletes()
    {
        // Backoff far beyond the test: the failed delete is retried only because the re-list hands over its lane.
        var cluster = new ScriptedCluster(retry: TimeSpan.FromMinutes(10));
        cluster.Handler.Hold(new Obj("ns/a", 2));
        cluster.Handler.Fail(new Obj("ns/x", 3), deleted: true, times: 1);
        cluster.Push(WatchEventType.Modified, new Obj("ns/a", 2));
        cluster.Push(WatchEventType.Deleted, new Obj("ns/x", 3));
        await using var watch = cluster.Start();
        await Until(() => cluster.Handler.Attempts("ns/x").Count == 1, "ns/x's delete to fail once");

        cluster.Relists.Enqueue([new Obj("ns/a", 9)]);
        cluster.Push(WatchEventType.Error, new Obj("", 0));
        // The watch re-lists after a short backoff of its own; meanwhile ns/a's hand-over is still under way. A list
        // taken now and handed over beside it could be overtaken by it (an older state landing last), and a model it
        // adopts after the list began would escape the list's "whatever is not listed is gone".
        await Task.Delay(TimeSpan.FromSeconds(1));
        cluster.Handler.ReleaseAll();

        await Until(() => cluster.Handler.RelistedCalls == 2, "the re-list to be handed over");
        Assert.Equal([0, 0], cluster.InFlightAtList);
        Assert.Equal(["+ns/a@2", "+ns/a@9"], cluster.Handler.SucceededOf("ns/a"));
        // ns/x is not listed (it is gone); its delete, still queued, went through before the re-list was complete.
        Assert.Equal(["-ns/x@3"], cluster.Handler.SucceededOf("ns/x"));
        Assert.True(cluster.Handler.Log.IndexOf("ok -ns/x@3") < cluster.Handler.Log.LastIndexOf("relisted"));
    }

    [Fact]
    public async Task Stopping_waits_for_the_hand_overs_under_way_and_starts_no_other()
    {
        var cluster = new ScriptedCluster();
        cluster.Handler.Hold(new Obj("ns/a", 2));
        cluster.Push(WatchEventType.Modified, new Obj("ns/a", 2));
        await using var watch = cluster.Start();
        await cluster.ReadAsync(1);

        await watch.Stop.CancelAsync();
        // A lease lost: the next holder lists afresh, and a hand-over of this one landing after that would undo it.
        var stoppedWhileHeld = await Task.WhenAny(watch.Running, Task.Delay(TimeSpan.FromSeconds(1))) == watch.Running;
        cluster.Push(WatchEventType.Modified, new Obj("ns/b", 3));
        cluster.Handler.ReleaseAll();
        await watch.Running.WaitAsync(TimeSpan.FromMinutes(2));

        Assert.False(stoppedWhileHeld, "the watch stopped while a hand-over was under way");
        Assert.Equal(["ok +ns/a@2"], cluster.Handler.Succeeded);
    }

    private static Task Until(Func<bool> condition, string what) =>
        TestEnvironment.Eventually(() => Task.FromResult(condition()), done => done, TimeSpan.FromMinutes(2), what);

    private sealed record Obj(string Key, int Version);

    private sealed record Step(WatchEventType Type, Obj? Item);

    private sealed class RunningWatch(Task running, CancellationTokenSource stop, ServiceProvider services, ScriptedHandler handler)
        : IAsyncDisposable
    {
        public Task Running => running;

        public CancellationTokenSource Stop => stop;

        public async ValueTask DisposeAsync()
        {
            await stop.CancelAsync();
            // After a failed assertion a held hand-over would keep the watch from stopping.
            handler.ReleaseAll();
            await running.WaitAsync(TimeSpan.FromMinutes(2));
            stop.Dispose();
            await services.DisposeAsync();
        }
    }

    /// <summary>A cluster whose first list is empty at version 1 and whose watch streams what the test pushes (a
    /// null item ends the current stream); later lists answer what the test queued.</summary>
    private sealed class ScriptedCluster(TimeSpan? retry = null)
    {
        private readonly Channel<Step> _steps = Channel.CreateUnbounded<Step>();
        private readonly Channel<int> _read = Channel.CreateUnbounded<int>();
        private int _readCount;
        private int _lists;

        public ScriptedHandler Handler { get; } = new();

        public System.Collections.Concurrent.ConcurrentQueue<string> OpenedAt { get; } = new();

        public IReadOnlyList<string> Opened => [.. OpenedAt];

        public System.Collections.Concurrent.ConcurrentQueue<Obj[]> Relists { get; } = new();

        public List<int> InFlightAtList { get; } = [];

        public void Push(WatchEventType type, Obj item) => _steps.Writer.TryWrite(new Step(type, item));

        public void EndStream() => _steps.Writer.TryWrite(new Step(WatchEventType.Bookmark, null));

        /// <summary>Until the watch has read <paramref name="count"/> events and asked for the next.</summary>
        public async Task ReadAsync(int count)
        {
            using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            while (await _read.Reader.ReadAsync(guard.Token) < count)
            {
            }
        }

        public RunningWatch Start()
        {
            var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
            var every = retry ?? TimeSpan.FromMilliseconds(100);
            var watch = new ResourceWatch<Obj>(
                "things",
                _ =>
                {
                    lock (InFlightAtList)
                    {
                        InFlightAtList.Add(Handler.InFlight);
                    }
                    IReadOnlyList<Obj> items = Interlocked.Increment(ref _lists) == 1 ? [] : Relists.TryDequeue(out var next) ? next : [];
                    return Task.FromResult((items, "1"));
                },
                (rv, _, ct) => Stream(rv, ct),
                item => item.Version.ToString(System.Globalization.CultureInfo.InvariantCulture),
                item => item.Key,
                Handler,
                new WatchRetry(every, every),
                new WatchMetrics(services.GetRequiredService<IMeterFactory>()),
                NullLogger.Instance,
                TimeProvider.System);
            var stop = new CancellationTokenSource();
            return new RunningWatch(watch.RunAsync(stop.Token), stop, services, Handler);
        }

        private async IAsyncEnumerable<(WatchEventType, Obj)> Stream(string resourceVersion, [EnumeratorCancellation] CancellationToken ct)
        {
            OpenedAt.Enqueue(resourceVersion);
            while (true)
            {
                var step = await _steps.Reader.ReadAsync(ct);
                if (step.Item is null)
                {
                    yield break;
                }
                yield return (step.Type, step.Item);
                // Asked for the next event: the watch is done with this one.
                _read.Writer.TryWrite(Interlocked.Increment(ref _readCount));
            }
        }
    }

    /// <summary>Records every attempt; holds the hand-overs the test holds until it lets them go, and fails the ones
    /// it fails (for a number of attempts, or until healed).</summary>
    private sealed class ScriptedHandler : IResourceWatchHandler<Obj>
    {
        private readonly object _gate = new();
        private readonly Dictionary<Obj, TaskCompletionSource> _held = [];
        private readonly Dictionary<(Obj, bool), int> _failing = [];
        private readonly List<string> _log = [];
        private int _inFlight;
        private int _mostAtOnce;
        private int _relisted;

        public int InFlight => Volatile.Read(ref _inFlight);

        public int MostAtOnce => Volatile.Read(ref _mostAtOnce);

        public int RelistedCalls => Volatile.Read(ref _relisted);

        public List<string> Log
        {
            get
            {
                lock (_gate)
                {
                    return [.. _log];
                }
            }
        }

        public List<string> Succeeded => Log.Where(l => l.StartsWith("ok ", StringComparison.Ordinal)).ToList();

        public void Hold(Obj item)
        {
            lock (_gate)
            {
                _held[item] = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }

        public void ReleaseAll()
        {
            lock (_gate)
            {
                foreach (var held in _held.Values)
                {
                    held.TrySetResult();
                }
            }
        }

        public void Fail(Obj item, bool deleted, int times = int.MaxValue)
        {
            lock (_gate)
            {
                _failing[(item, deleted)] = times;
            }
        }

        public void Heal(Obj item)
        {
            lock (_gate)
            {
                _failing.Remove((item, true));
                _failing.Remove((item, false));
            }
        }

        public bool HasSucceeded(Obj item) => Succeeded.Any(s => s.EndsWith($"{item.Key}@{item.Version}", StringComparison.Ordinal));

        /// <summary>Every attempt at one object's events, in order, as "+key@version" (upsert) or "-key@version".</summary>
        public List<string> Attempts(string key) => Of(Log, key);

        public List<string> SucceededOf(string key) => Of(Succeeded, key);

        private static List<string> Of(IEnumerable<string> lines, string key) =>
            [.. lines.Select(l => l.Split(' ')).Where(p => p.Length == 2 && p[1][1..].StartsWith($"{key}@", StringComparison.Ordinal)).Select(p => p[1])];

        public Task UpsertAsync(Obj item) => HandleAsync(item, deleted: false);

        public Task DeletedAsync(Obj item) => HandleAsync(item, deleted: true);

        public Task RelistedAsync(IReadOnlyCollection<Obj> items, DateTimeOffset listedAt)
        {
            lock (_gate)
            {
                _log.Add("relisted");
            }
            Interlocked.Increment(ref _relisted);
            return Task.CompletedTask;
        }

        private async Task HandleAsync(Obj item, bool deleted)
        {
            var now = Interlocked.Increment(ref _inFlight);
            for (var seen = Volatile.Read(ref _mostAtOnce); now > seen; seen = Volatile.Read(ref _mostAtOnce))
            {
                if (Interlocked.CompareExchange(ref _mostAtOnce, now, seen) == seen)
                {
                    break;
                }
            }
            var name = $"{(deleted ? "-" : "+")}{item.Key}@{item.Version}";
            try
            {
                Task? held;
                lock (_gate)
                {
                    held = _held.TryGetValue(item, out var h) ? h.Task : null;
                }
                if (held is not null)
                {
                    await held;
                }
                lock (_gate)
                {
                    if (_failing.TryGetValue((item, deleted), out var left) && left > 0)
                    {
                        _failing[(item, deleted)] = left - 1;
                        _log.Add($"failed {name}");
                        throw new InvalidOperationException($"{name} cannot be handled yet");
                    }
                    _log.Add($"ok {name}");
                }
            }
            finally
            {
                Interlocked.Decrement(ref _inFlight);
            }
        }
    }
}
