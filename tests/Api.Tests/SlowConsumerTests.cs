using System.Net.WebSockets;
using Inference.ApiHost.Realtime;
using Inference.Grains.Abstractions.Events;
using Inference.Grains.Abstractions.Models;
using Inference.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Api.Tests;

/// <summary>A host whose sockets may fall only a few messages behind, and that waits for a cut-off client to
/// take its close frame (so the test can read it).</summary>
public sealed class SlowConsumerFixture : ApiFixture
{
    public const int Capacity = 8;

    protected override void Configure(IDictionary<string, string?> settings)
    {
        settings["Realtime:SendQueueCapacity"] = Capacity.ToString();
        settings["Realtime:SlowConsumerCloseTimeout"] = "00:05:00";
    }
}

public sealed class SlowConsumerTests(SlowConsumerFixture api) : IClassFixture<SlowConsumerFixture>
{
    [Fact]
    public async Task A_client_that_never_reads_is_cut_off_and_its_queue_stays_bounded()
    {
        var tenant = $"slow-{Guid.NewGuid():N}"[..13];
        var stats = api.Services.GetRequiredService<RealtimeStats>();
        var grains = api.Services.GetRequiredService<IGrainFactory>();
        await using var slow = await EventSocketClient.ConnectAsync(api.BaseAddress, api.Tokens.Tenant(tenant));

        // Large events fill the socket buffers quickly; after that only the server's queue could grow.
        var bulky = new ModelView("bulky", tenant, "Pending", false, null, new ModelSpec("sklearn", "s3://b/m"),
            DateTimeOffset.UtcNow, DateTimeOffset.UtcNow, "Pending", new ReplicaCounts(1, 0, 0),
            [new ModelCondition("Ready", "False", "Filler", new string('x', 128 * 1024), null)]);
        var published = 0;
        // Socket buffers on loopback hold at most a few MB (tens of these events); 300 is far beyond that.
        while (stats.SlowConsumersDisconnected == 0 && published < 300)
        {
            await grains.GetGrain<ITenantEventsGrain>(tenant).PublishAsync(
                new ChangeEvent(ChangeTypes.ModelStatusChanged, tenant, "model", "bulky", DateTimeOffset.UtcNow, 0, bulky));
            published++;
        }
        await TestEnvironment.Eventually(() => Task.FromResult(stats.SlowConsumersDisconnected), n => n >= 1, what: $"a cut-off after {published} events");
        Assert.InRange(stats.PeakQueueDepth, 1, SlowConsumerFixture.Capacity);

        // Reading now drains what the network held, then the close frame with its reason.
        var received = 0;
        var closed = await Assert.ThrowsAsync<WebSocketClosedException>(async () =>
        {
            while (true)
            {
                await slow.ReceiveAsync();
                received++;
            }
        });
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, closed.Status);
        Assert.Contains("too slow", closed.Reason);
        Assert.True(received < published, $"received {received} of {published}: the server dropped the backlog rather than buffer it");
    }
}
