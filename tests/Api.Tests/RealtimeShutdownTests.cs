using System.Net.WebSockets;
using Inference.TestSupport;

namespace Inference.Api.Tests;

/// <summary>A host of its own: the test stops it.</summary>
public sealed class RealtimeShutdownFixture : ApiFixture;

public sealed class RealtimeShutdownTests(RealtimeShutdownFixture api) : IClassFixture<RealtimeShutdownFixture>
{
    [Fact]
    public async Task A_stopping_host_closes_its_sockets_with_going_away_so_clients_reconnect_elsewhere()
    {
        var socket = await EventSocketClient.ConnectAsync(api.BaseAddress, api.Tokens.Tenant("tenant-a"));
        var closed = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    await socket.ReceiveAsync(TimeSpan.FromSeconds(120));
                }
            }
            catch (WebSocketClosedException e)
            {
                // Answer the close frame, as a browser does.
                await socket.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
                return e;
            }
        });

        var restart = api.RestartAsync();
        var close = await closed;
        await restart;

        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, close.Status);
        Assert.Equal("Server shutting down", close.Reason);
        await socket.DisposeAsync();
    }
}
