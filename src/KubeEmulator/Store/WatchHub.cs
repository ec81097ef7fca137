using System.Text.Json.Nodes;
using System.Threading.Channels;
using KubeEmulator.Resources;

namespace KubeEmulator.Store;

/// <summary>A committed change. <see cref="Previous"/> lets selector-filtered watches turn MODIFIED into ADDED/DELETED.</summary>
internal sealed record WatchEvent(string Type, ResourceType Resource, string? Namespace, JsonObject Object, JsonObject? Previous, long ResourceVersion);

/// <summary>A live feed of events for one resource (optionally one namespace). Ends when the reader falls too far behind.</summary>
internal sealed class WatchSubscription(ResourceType resource, string? ns, IReadOnlyList<WatchEvent> initial, long startRv)
{
    // Bounded so that a stalled client cannot grow memory without limit; on overflow the stream is closed and
    // the client re-watches, exactly what it must handle against a real apiserver as well.
    private readonly Channel<WatchEvent> _channel = Channel.CreateBounded<WatchEvent>(new BoundedChannelOptions(10_000)
    {
        SingleReader = true,
        FullMode = BoundedChannelFullMode.Wait,
    });

    public ResourceType Resource { get; } = resource;
    public string? Namespace { get; } = ns;
    /// <summary>Synthetic ADDED events (watch from "0") or history replay (watch from an RV), delivered first.</summary>
    public IReadOnlyList<WatchEvent> Initial { get; } = initial;
    /// <summary>The resourceVersion the subscription is consistent with before any live event arrives.</summary>
    public long StartResourceVersion { get; } = startRv;
    public ChannelReader<WatchEvent> Reader => _channel.Reader;

    internal bool Matches(WatchEvent e) => e.Resource == Resource && (Namespace is null || e.Namespace == Namespace);

    internal bool Offer(WatchEvent e)
    {
        if (_channel.Writer.TryWrite(e)) return true;
        _channel.Writer.TryComplete();
        return false;
    }

    internal void Close() => _channel.Writer.TryComplete();

    /// <summary>Set when the history this watch resumes from was compacted under it: the stream ends with an ERROR
    /// event carrying 410 Expired, as a watch served from etcd ends after a compaction.</summary>
    public bool Expired { get; private set; }

    internal void Expire()
    {
        Expired = true;
        _channel.Writer.TryComplete();
    }
}

/// <summary>
/// Bounded event history plus fan-out to live subscriptions, like the apiserver's watch cache. Every member is
/// called under the store's lock, which orders events and makes "snapshot + subscribe" atomic.
/// </summary>
internal sealed class WatchHub(int historyLimit)
{
    private readonly Queue<WatchEvent> _history = new();
    private readonly List<WatchSubscription> _subscriptions = [];

    /// <summary>Newest resourceVersion no longer replayable; watches from an older version get 410 Expired.</summary>
    public long CompactedResourceVersion { get; private set; }

    public void Publish(WatchEvent e)
    {
        _history.Enqueue(e);
        while (_history.Count > Math.Max(1, historyLimit))
            CompactedResourceVersion = _history.Dequeue().ResourceVersion;
        _subscriptions.RemoveAll(s => s.Matches(e) && !s.Offer(e));
    }

    /// <summary>Marks everything up to <paramref name="rv"/> as not replayable (used after loading a data file).</summary>
    public void CompactTo(long rv) => CompactedResourceVersion = Math.Max(CompactedResourceVersion, rv);

    /// <summary>Compaction: nothing up to <paramref name="rv"/> is replayable any more, and every open watch ends
    /// with 410 Expired (its client must list again).</summary>
    public void Compact(long rv)
    {
        CompactTo(rv);
        _history.Clear();
        foreach (var subscription in _subscriptions)
            subscription.Expire();
        _subscriptions.Clear();
    }

    public IEnumerable<WatchEvent> After(long rv) => _history.Where(e => e.ResourceVersion > rv);

    public void Add(WatchSubscription subscription) => _subscriptions.Add(subscription);

    public void Remove(WatchSubscription subscription)
    {
        _subscriptions.Remove(subscription);
        subscription.Close();
    }
}
