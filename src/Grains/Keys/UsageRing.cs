using Inference.Grains.Abstractions.Keys;
using Inference.Shared.Keys;

namespace Inference.Grains.Keys;

/// <summary>A bounded history of a key's use: a fixed number of buckets of a fixed width, each slot reused when its
/// time comes round again, so the memory and the persisted state of a key stay the same size however long it lives.
/// Not thread-safe: it lives inside one key grain's turns.</summary>
public sealed class UsageRing
{
    public const int Minutes = 60;
    public const int Hours = 24;

    private readonly UsageBucket[] _slots;
    private readonly long _width;

    public UsageRing(int slots, TimeSpan width, UsageBucket[]? saved = null)
    {
        _slots = new UsageBucket[slots];
        _width = (long)width.TotalSeconds;
        if (saved is not null)
        {
            foreach (var bucket in saved)
            {
                // Only buckets aligned to this ring's width, each into its own slot: a saved ring of another shape
                // (or a tampered one) cannot put figures where they do not belong.
                if (bucket.Start >= 0 && bucket.Start % _width == 0 && bucket.Start >= _slots[Slot(bucket.Start)].Start)
                {
                    _slots[Slot(bucket.Start)] = bucket;
                }
            }
        }
    }

    public int BucketSeconds => (int)_width;

    public static UsageRing ByMinute(UsageBucket[]? saved = null) => new(Minutes, TimeSpan.FromMinutes(1), saved);

    public static UsageRing ByHour(UsageBucket[]? saved = null) => new(Hours, TimeSpan.FromHours(1), saved);

    public void Add(DateTimeOffset at, long requests, long tokens, long limited)
    {
        var start = Start(at);
        ref var slot = ref _slots[Slot(start)];
        if (slot.Start != start)
        {
            if (slot.Start > start)
            {
                // Older than what the slot holds now: outside the window, nothing to count it in.
                return;
            }
            slot = new UsageBucket(start, 0, 0, 0);
        }
        slot = slot with
        {
            Requests = Saturating.Add(slot.Requests, requests),
            Tokens = Saturating.Add(slot.Tokens, tokens),
            Limited = Saturating.Add(slot.Limited, limited),
        };
    }

    /// <summary>Every bucket of the window ending with the one holding <paramref name="now"/>, oldest first.</summary>
    public UsageBucket[] Series(DateTimeOffset now)
    {
        var current = Start(now);
        var series = new UsageBucket[_slots.Length];
        for (var i = 0; i < series.Length; i++)
        {
            var start = current - (series.Length - 1 - i) * _width;
            var slot = start >= 0 ? _slots[Slot(start)] : default;
            series[i] = slot.Start == start && start >= 0 ? slot : new UsageBucket(start, 0, 0, 0);
        }
        return series;
    }

    /// <summary>The buckets holding anything, for the persisted state.</summary>
    public UsageBucket[] Saved() => _slots.Where(s => s.Requests != 0 || s.Tokens != 0 || s.Limited != 0).ToArray();

    private long Start(DateTimeOffset at)
    {
        var seconds = at.ToUnixTimeSeconds();
        return seconds - (seconds % _width + _width) % _width;
    }

    private int Slot(long start) => (int)(start / _width % _slots.Length);
}
