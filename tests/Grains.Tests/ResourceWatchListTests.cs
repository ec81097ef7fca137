using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using Inference.Grains.Kubernetes;
using k8s;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Inference.Grains.Tests;

/// <summary>A (re-)list is handed over several objects at a time: after a restart with thousands of models, one
/// storage round trip after another made the resync take minutes (docs/scale.md). Failures stay per object.</summary>
public sealed class ResourceWatchListTests
{
    [Fact]
    public async Task A_list_is_handed_over_several_objects_at_a_time_and_a_failing_one_is_retried_alone()
    {
        var items = Enumerable.Range(0, 6).Select(i => $"object-{i}").ToList();
        var handler = new OverlapHandler(failOnce: "object-3");
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var watch = new ResourceWatch<string>(
            "things",
            _ => Task.FromResult<(IReadOnlyList<string>, string)>((items, "1")),
            (_, _, ct) => Silent(ct),
            _ => "1",
            item => item,
            handler,
            new WatchRetry(TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(100)),
            new WatchMetrics(services.GetRequiredService<IMeterFactory>()),
            NullLogger.Instance,
            TimeProvider.System);
        using var stop = new CancellationTokenSource();
        var running = watch.RunAsync(stop.Token);

        await handler.Relisted.Task.WaitAsync(TimeSpan.FromMinutes(2));
        // Two hand-overs were under way at once: objects of a list do not wait for each other.
        Assert.True(handler.MostAtOnce >= 2, $"at most {handler.MostAtOnce} object(s) were handed over at a time");
        // The one that failed is set aside and retried on its own, while the watch runs; every object is handled once.
        await handler.Retried.Task.WaitAsync(TimeSpan.FromMinutes(2));
        Assert.Equal(items, handler.Succeeded.Order());

        await stop.CancelAsync();
        await running;
    }

    private static async IAsyncEnumerable<(WatchEventType, string)> Silent([EnumeratorCancellation] CancellationToken ct)
    {
        await Task.Delay(Timeout.Infinite, ct);
        yield break;
    }

    /// <summary>Each hand-over waits until another one is under way beside it (or, handed over one at a time, gives
    /// up waiting after a while, so the test fails on the count instead of hanging).</summary>
    private sealed class OverlapHandler(string failOnce) : IResourceWatchHandler<string>
    {
        private readonly TaskCompletionSource _overlap = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _inFlight;
        private int _failed;

        public int MostAtOnce;

        public ConcurrentBag<string> Succeeded { get; } = [];

        public TaskCompletionSource Relisted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Retried { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task UpsertAsync(string item)
        {
            var now = Interlocked.Increment(ref _inFlight);
            InterlockedMax(ref MostAtOnce, now);
            if (now >= 2)
            {
                _overlap.TrySetResult();
            }
            await Task.WhenAny(_overlap.Task, Task.Delay(TimeSpan.FromSeconds(2)));
            Interlocked.Decrement(ref _inFlight);
            if (item == failOnce && Interlocked.Increment(ref _failed) == 1)
            {
                throw new InvalidOperationException("this object cannot be handled yet");
            }
            if (item == failOnce && Relisted.Task.IsCompleted)
            {
                Retried.TrySetResult();
            }
            Succeeded.Add(item);
        }

        public Task DeletedAsync(string item) => Task.CompletedTask;

        public Task RelistedAsync(IReadOnlyCollection<string> items, DateTimeOffset listedAt)
        {
            Relisted.TrySetResult();
            return Task.CompletedTask;
        }

        private static void InterlockedMax(ref int target, int value)
        {
            for (var seen = Volatile.Read(ref target); value > seen; seen = Volatile.Read(ref target))
            {
                if (Interlocked.CompareExchange(ref target, value, seen) == seen)
                {
                    return;
                }
            }
        }
    }
}
