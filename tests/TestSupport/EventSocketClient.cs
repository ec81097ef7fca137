using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;

namespace Inference.TestSupport;

/// <summary>A /ws client over a real socket, as a UI would hold one.</summary>
public sealed class EventSocketClient : IAsyncDisposable
{
    private readonly ClientWebSocket _socket;

    private EventSocketClient(ClientWebSocket socket) => _socket = socket;

    public WebSocket Socket => _socket;

    /// <summary>Connects and waits for the server's "subscribed" message, after which every change is delivered.</summary>
    public static async Task<EventSocketClient> ConnectAsync(Uri baseAddress, string? token, string query = "", bool tokenInQuery = false)
    {
        var (socket, uri) = Create(baseAddress, token, query, tokenInQuery);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await socket.ConnectAsync(uri, timeout.Token);
        var client = new EventSocketClient(socket);
        var first = await client.NextAsync();
        if (first["type"]?.GetValue<string>() != "subscribed")
        {
            throw new InvalidOperationException("expected a subscribed message first, got " + first.ToJsonString());
        }
        return client;
    }

    /// <summary>The HTTP status the server answered an upgrade with, when it refused it.</summary>
    public static async Task<HttpStatusCode> RefusedAsync(Uri baseAddress, string? token, string query = "", bool tokenInQuery = false)
    {
        var (socket, uri) = Create(baseAddress, token, query, tokenInQuery);
        using (socket)
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await socket.ConnectAsync(uri, timeout.Token);
            }
            catch (WebSocketException)
            {
                // Expected: the status is what the test wants.
            }
            if (socket.State == WebSocketState.Open)
            {
                throw new InvalidOperationException("the upgrade was accepted");
            }
            return socket.HttpStatusCode;
        }
    }

    private static (ClientWebSocket Socket, Uri Uri) Create(Uri baseAddress, string? token, string query, bool tokenInQuery)
    {
        var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        if (token is not null && !tokenInQuery)
        {
            socket.Options.SetRequestHeader("Authorization", $"Bearer {token}");
        }
        var parameters = new List<string>();
        if (query.Length > 0)
        {
            parameters.Add(query);
        }
        if (token is not null && tokenInQuery)
        {
            parameters.Add("access_token=" + Uri.EscapeDataString(token));
        }
        var uri = new UriBuilder(baseAddress) { Scheme = baseAddress.Scheme == "https" ? "wss" : "ws", Path = "/ws", Query = string.Join("&", parameters) }.Uri;
        return (socket, uri);
    }

    /// <summary>The next message that is not a heartbeat.</summary>
    public async Task<JsonNode> NextAsync(TimeSpan? timeout = null)
    {
        while (true)
        {
            var message = await ReceiveAsync(timeout);
            if (message["type"]?.GetValue<string>() != "heartbeat")
            {
                return message;
            }
        }
    }

    /// <summary>The next change event (skipping control messages) that matches; earlier ones are returned too.</summary>
    public async Task<(JsonNode Match, List<JsonNode> Seen)> WaitForAsync(Func<JsonNode, bool> match, TimeSpan? timeout = null)
    {
        var seen = new List<JsonNode>();
        while (true)
        {
            var message = await NextAsync(timeout);
            seen.Add(message);
            if (match(message))
            {
                return (message, seen);
            }
        }
    }

    public async Task<JsonNode> ReceiveAsync(TimeSpan? timeout = null)
    {
        using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        while (true)
        {
            var result = await _socket.ReceiveAsync(buffer, cancel.Token);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                throw new WebSocketClosedException(result.CloseStatus, result.CloseStatusDescription);
            }
            message.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                return JsonNode.Parse(Encoding.UTF8.GetString(message.ToArray()))!;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_socket.State == WebSocketState.Open)
            {
                using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", cancel.Token);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
        }
        _socket.Dispose();
    }
}

public sealed class WebSocketClosedException(WebSocketCloseStatus? status, string? reason)
    : Exception($"socket closed by the server: {status} {reason}")
{
    public WebSocketCloseStatus? Status { get; } = status;

    public string? Reason { get; } = reason;
}
