using System.Net;
using System.Net.WebSockets;
using Inference.TestSupport;

namespace Inference.Api.Tests;

/// <summary>A host with small /ws bounds and a small per-user request limit, so the bounds are reached quickly.</summary>
public sealed class RealtimeLimitsFixture : ApiFixture
{
    public const int PerUser = 2;
    public const int PerHost = 3;
    public const int RequestsPerMinute = 6;

    protected override void Configure(IDictionary<string, string?> settings)
    {
        settings["Realtime:MaxSocketsPerUser"] = PerUser.ToString();
        settings["Realtime:MaxSocketsPerHost"] = PerHost.ToString();
        settings["RATE_LIMIT_REQUESTS"] = RequestsPerMinute.ToString();
    }
}

public sealed class RealtimeLimitsTests(RealtimeLimitsFixture api) : IClassFixture<RealtimeLimitsFixture>
{
    private string User() => api.Tokens.Tenant("tenant-a", subject: $"ws-{Guid.NewGuid():N}");

    [Fact]
    public async Task A_user_holds_at_most_the_configured_sockets()
    {
        var token = User();
        var open = new List<EventSocketClient>();
        try
        {
            for (var i = 0; i < RealtimeLimitsFixture.PerUser; i++)
            {
                open.Add(await EventSocketClient.ConnectAsync(api.BaseAddress, token));
            }
            Assert.Equal(HttpStatusCode.TooManyRequests, await EventSocketClient.RefusedAsync(api.BaseAddress, token));
            // Another user is not affected by the first one's sockets.
            await using (await EventSocketClient.ConnectAsync(api.BaseAddress, User()))
            {
            }
        }
        finally
        {
            foreach (var socket in open)
            {
                await socket.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_host_holds_at_most_the_configured_sockets()
    {
        var open = new List<EventSocketClient>();
        try
        {
            for (var i = 0; i < RealtimeLimitsFixture.PerHost; i++)
            {
                open.Add(await EventSocketClient.ConnectAsync(api.BaseAddress, User()));
            }
            Assert.Equal(HttpStatusCode.ServiceUnavailable, await EventSocketClient.RefusedAsync(api.BaseAddress, User()));
        }
        finally
        {
            foreach (var socket in open)
            {
                await socket.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Upgrades_count_under_the_per_user_request_limit()
    {
        var token = User();
        var client = api.Client(token);
        for (var i = 0; i < RealtimeLimitsFixture.RequestsPerMinute; i++)
        {
            await (await client.GetAsync("/api/models")).AssertOk();
        }
        Assert.Equal(HttpStatusCode.TooManyRequests, await EventSocketClient.RefusedAsync(api.BaseAddress, token));
    }

    [Fact]
    public async Task A_socket_is_closed_with_policy_violation_when_its_token_expires()
    {
        var expires = DateTime.UtcNow.AddSeconds(3);
        var token = api.Tokens.Sign(Tokens.Claims($"ws-{Guid.NewGuid():N}", "tenant-a", false), expires: expires);
        await using var socket = await EventSocketClient.ConnectAsync(api.BaseAddress, token);
        // Heartbeats keep arriving until the close; a socket still open at the deadline fails the receive.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        WebSocketClosedException? closed = null;
        while (closed is null)
        {
            try
            {
                await socket.ReceiveAsync(deadline - DateTime.UtcNow);
            }
            catch (WebSocketClosedException e)
            {
                closed = e;
            }
        }
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, closed.Status);
        Assert.Equal("Token expired", closed.Reason);
    }
}
