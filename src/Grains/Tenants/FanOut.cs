namespace Inference.Grains.Tenants;

/// <summary>Calls to many grains from one grain, in parallel but at most <c>limit</c> at a time, answers in the
/// order of the inputs. The calls start on the calling activation's scheduler, so they run in its turns like any
/// other awaited call.</summary>
internal static class FanOut
{
    public static async Task<TOut[]> SelectAsync<TIn, TOut>(IReadOnlyList<TIn> items, int limit, Func<TIn, Task<TOut>> call)
    {
        var results = new TOut[items.Count];
        var options = new ParallelOptions { MaxDegreeOfParallelism = limit, TaskScheduler = TaskScheduler.Current };
        await Parallel.ForEachAsync(Enumerable.Range(0, items.Count), options, async (i, _) => results[i] = await call(items[i]));
        return results;
    }
}
