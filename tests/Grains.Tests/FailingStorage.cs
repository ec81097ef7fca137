using System.Collections.Concurrent;
using Orleans.Storage;

namespace Inference.Grains.Tests;

/// <summary>The real (Azure table) grain storage, except that writes of the grains a test names fail, as a storage
/// outage would make them.</summary>
public sealed class FailingStorage(IGrainStorage inner) : IGrainStorage
{
    private static readonly ConcurrentDictionary<string, int> Failing = new(StringComparer.Ordinal);
    private static readonly ConcurrentDictionary<string, int> Written = new(StringComparer.Ordinal);

    /// <summary>Makes every write of the grain with this key fail until <see cref="Heal"/>.</summary>
    public static void FailWritesOf(string key) => Failing[key] = 0;

    public static void Heal(string key) => Failing.TryRemove(key, out _);

    /// <summary>How many writes of this grain have failed so far.</summary>
    public static int FailedWrites(string key) => Failing.TryGetValue(key, out var n) ? n : 0;

    /// <summary>How many writes of this grain storage has taken so far.</summary>
    public static int Writes(string key) => Written.TryGetValue(key, out var n) ? n : 0;

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        inner.ReadStateAsync(stateName, grainId, grainState);

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var key = grainId.Key.ToString()!;
        if (Failing.ContainsKey(key))
        {
            Failing.AddOrUpdate(key, 1, (_, n) => n + 1);
            throw new IOException($"Injected storage failure writing {grainId}");
        }
        return WrittenAsync(key, inner.WriteStateAsync(stateName, grainId, grainState));
    }

    private static async Task WrittenAsync(string key, Task write)
    {
        await write;
        Written.AddOrUpdate(key, 1, (_, n) => n + 1);
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        inner.ClearStateAsync(stateName, grainId, grainState);
}
