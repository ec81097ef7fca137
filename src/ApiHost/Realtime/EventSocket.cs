using System.Net.WebSockets;
using System.Text.Json;
using System.Threading.Channels;
using Inference.ApiHost.Http;
using Inference.Grains.Abstractions.Events;

namespace Inference.ApiHost.Realtime;

/// <summary>One /ws connection: events are queued by the stream callback without ever blocking it, and a single
/// writer sends them. The queue is bounded; when a client falls so far behind that it fills up, the client is
/// disconnected with 1008 and a reason instead of the server buffering without end.</summary>
internal sealed class EventSocket(RealtimeOptions options, RealtimeStats stats, ILogger logger)
{
    public const string SlowConsumerReason = "Client too slow: send queue full";
    public const string TokenExpiredReason = "Token expired";
    public const string GoingAwayReason = "Server shutting down";

    private readonly Channel<object> _queue = Channel.CreateBounded<object>(new BoundedChannelOptions(Math.Max(1, options.SendQueueCapacity))
    {
        SingleReader = true,
        FullMode = BoundedChannelFullMode.Wait, // only TryWrite is used: full means "refuse", never "wait" or "drop"
    });

    private int _cutOff;
    private int _expired;
    private int _goingAway;
    private int _done;
    private WebSocket? _socket;

    /// <summary>Queues a message; never blocks. A full queue disconnects the client.</summary>
    public void Enqueue(object message)
    {
        if (_queue.Writer.TryWrite(message))
        {
            stats.ObserveDepth(_queue.Reader.Count);
            return;
        }
        if (Volatile.Read(ref _done) == 1)
        {
            return; // closing anyway
        }
        if (Interlocked.Exchange(ref _cutOff, 1) == 0)
        {
            stats.SlowConsumerDisconnected();
            logger.LogWarning("Disconnecting a /ws client that fell {Capacity} messages behind", options.SendQueueCapacity);
            Complete();
            // If the client does not even take the close frame, drop the connection.
            _ = Task.Delay(options.SlowConsumerCloseTimeout).ContinueWith(_ => Volatile.Read(ref _socket)?.Abort(), TaskScheduler.Default);
        }
    }

    public void Enqueue(ChangeEvent change) => Enqueue((object)change);

    /// <summary>Sends queued messages and heartbeats, and reads (and discards) what the client sends, until
    /// either side closes, the token the socket was opened with expires (then it is closed with 1008: a socket
    /// must not outlive the authority it was opened with) or the host stops (then it is closed with 1001, going
    /// away, so the client reconnects to another host instead of waiting for the connection to be cut).</summary>
    public async Task RunAsync(WebSocket socket, DateTimeOffset? tokenExpires, TimeProvider time, CancellationToken hostStopping, CancellationToken aborted)
    {
        Volatile.Write(ref _socket, socket);
        if (Volatile.Read(ref _cutOff) == 1)
        {
            socket.Abort();
            return;
        }
        using var goingAway = hostStopping.Register(() =>
        {
            Volatile.Write(ref _goingAway, 1);
            Complete();
        });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        var receive = ReceiveAsync(socket, stop.Token);
        var heartbeat = HeartbeatAsync(stop.Token);
        var expiry = tokenExpires is { } expires ? ExpireAsync(expires, time, stop.Token) : Task.CompletedTask;
        try
        {
            await SendAsync(socket, stop.Token);
            if (Volatile.Read(ref _cutOff) == 1 && socket.State == WebSocketState.Open)
            {
                await socket.CloseOutputAsync(WebSocketCloseStatus.PolicyViolation, SlowConsumerReason, stop.Token);
            }
            else if (Volatile.Read(ref _expired) == 1 && socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                await socket.CloseOutputAsync(WebSocketCloseStatus.PolicyViolation, TokenExpiredReason, stop.Token);
            }
            else if (Volatile.Read(ref _goingAway) == 1 && socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                await socket.CloseOutputAsync(WebSocketCloseStatus.EndpointUnavailable, GoingAwayReason, stop.Token);
                // The host is stopping: a client that does not answer the close frame is not waited for.
                await receive.WaitAsync(options.SlowConsumerCloseTimeout, stop.Token);
            }
            else if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "Closing", stop.Token);
            }
            await receive;
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException or TimeoutException)
        {
            // The client went away, was dropped, or did not answer the close frame; nothing left to tell it.
        }
        finally
        {
            Complete();
            await stop.CancelAsync();
            await Task.WhenAll(receive, heartbeat, expiry).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    private async Task SendAsync(WebSocket socket, CancellationToken cancel)
    {
        while (await _queue.Reader.WaitToReadAsync(cancel))
        {
            while (Volatile.Read(ref _cutOff) == 0 && _queue.Reader.TryRead(out var message))
            {
                var payload = message is ChangeEvent change ? EventMessage.From(change) : message;
                var bytes = JsonSerializer.SerializeToUtf8Bytes(payload, payload.GetType(), ApiJson.Options);
                await socket.SendAsync(bytes, WebSocketMessageType.Text, endOfMessage: true, cancel);
            }
            if (Volatile.Read(ref _cutOff) == 1)
            {
                return;
            }
        }
    }

    /// <summary>Completes when the client closes or the connection fails; ends the send loop too.</summary>
    private async Task ReceiveAsync(WebSocket socket, CancellationToken cancel)
    {
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer, cancel);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
        finally
        {
            Complete();
        }
    }

    private void Complete()
    {
        Volatile.Write(ref _done, 1);
        _queue.Writer.TryComplete();
    }

    /// <summary>At the token's expiry, ends the send loop so the socket is closed as expired.</summary>
    private async Task ExpireAsync(DateTimeOffset expires, TimeProvider time, CancellationToken cancel)
    {
        var wait = expires - time.GetUtcNow();
        try
        {
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, time, cancel);
            }
            Volatile.Write(ref _expired, 1);
            Complete();
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task HeartbeatAsync(CancellationToken cancel)
    {
        using var timer = new PeriodicTimer(options.HeartbeatInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(cancel))
            {
                Enqueue(new ControlMessage(ControlMessage.Heartbeat, DateTimeOffset.UtcNow));
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
