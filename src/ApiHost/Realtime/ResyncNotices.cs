using System.Collections.Concurrent;
using Inference.Silo;

namespace Inference.ApiHost.Realtime;

/// <summary>Tells every open /ws socket of this host to re-read state over REST (<c>{"type":"resync"}</c>) when
/// events may have been lost while the socket stayed open: a silo left the cluster (its in-memory stream queues go
/// with it) or this host lost its connection to the cluster. The notice goes out once the cluster has had the
/// failure detection time to declare the silo dead, so a re-read made after it sees every acknowledged change and
/// the events that follow are delivered again; a further failure meanwhile postpones it.</summary>
public sealed class ResyncNotices : IDisposable
{
    private readonly ConcurrentDictionary<EventSocket, byte> _sockets = new();
    private readonly TimeProvider _time;
    private readonly ILogger<ResyncNotices> _logger;
    private readonly ITimer _timer;
    private string? _reason;
    private long _sent;

    public ResyncNotices(TimeProvider time, ILogger<ResyncNotices> logger)
    {
        _time = time;
        _logger = logger;
        _timer = time.CreateTimer(_ => Send(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>From a failure to the notice: the time the cluster takes to declare a silo dead.</summary>
    public static TimeSpan Delay => FailureDetection.DetectionTime;

    /// <summary>Notices sent since the host started (each to every socket open then).</summary>
    public long Sent => Interlocked.Read(ref _sent);

    internal void Add(EventSocket socket) => _sockets.TryAdd(socket, 0);

    internal void Remove(EventSocket socket) => _sockets.TryRemove(socket, out _);

    /// <summary>Events may have been lost for <paramref name="reason"/>: every socket open when the notice goes
    /// out is told to resync.</summary>
    public void Schedule(string reason)
    {
        Volatile.Write(ref _reason, reason);
        _timer.Change(Delay, Timeout.InfiniteTimeSpan);
    }

    private void Send()
    {
        if (Interlocked.Exchange(ref _reason, null) is not { } reason)
        {
            return;
        }
        Interlocked.Increment(ref _sent);
        var notice = new ControlMessage(ControlMessage.Resync, _time.GetUtcNow(), Reason: reason);
        foreach (var socket in _sockets.Keys)
        {
            socket.Enqueue(notice);
        }
        _logger.LogInformation("Told {Sockets} /ws sockets to resync: {Reason}", _sockets.Count, reason);
    }

    public void Dispose() => _timer.Dispose();
}

/// <summary>An API host in client mode: a gateway connection closing means a silo may be gone, and events in flight
/// on it with it; losing every gateway means this host missed whatever was published meanwhile.</summary>
internal sealed class GatewayLossResync(ResyncNotices notices) : IClusterConnectionStatusObserver
{
    public void NotifyGatewayCountChanged(int currentNumberOfGateways, int previousNumberOfGateways, bool connectionRecovered)
    {
        if (currentNumberOfGateways < previousNumberOfGateways)
        {
            notices.Schedule("a silo's connection was lost: events in flight on it may be lost");
        }
        else if (connectionRecovered)
        {
            notices.Schedule("the connection to the cluster was lost and regained: events meanwhile were missed");
        }
    }

    public void NotifyClusterConnectionLost() =>
        notices.Schedule("the connection to the cluster was lost and regained: events meanwhile were missed");
}

/// <summary>An API host that co-hosts a silo of a cluster: another silo declared dead took its stream queues, and
/// the events in flight on them, along.</summary>
internal sealed class SiloLossResync(IServiceProvider services, ResyncNotices notices, ILogger<SiloLossResync> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (services.GetService<IClusterMembershipService>() is not { } membership)
        {
            return;
        }
        var dead = new HashSet<SiloAddress>();
        var first = true;
        try
        {
            await foreach (var snapshot in membership.MembershipUpdates.WithCancellation(stoppingToken))
            {
                var newlyDead = snapshot.Members.Values.Count(m => m.Status == SiloStatus.Dead && dead.Add(m.SiloAddress));
                // The first snapshot lists silos that died before this host started: nothing of theirs was missed here.
                if (newlyDead > 0 && !first)
                {
                    notices.Schedule("a silo left the cluster: events in flight on it may be lost");
                }
                first = false;
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Membership updates ended; /ws sockets are no longer told to resync after a silo's loss");
        }
    }
}
