using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json.Nodes;
using Inference.TestSupport;

namespace Inference.Cluster.Tests;

/// <summary>An API host that goes away (SIGTERM, then SIGKILL) leaves the other hosts' /ws subscribers receiving
/// every tenant change, and a subscriber on the host started again receives them too. The stopped host's
/// subscriptions stay in the pub-sub table when its unsubscribe does not get through (always, after a SIGKILL): the
/// stream's delivery to such a consumer of a client that is gone must not hold up the others.</summary>
public sealed class RealtimeHostStopTests
{
    [Fact]
    public async Task Subscribers_of_the_other_host_and_of_the_restarted_host_keep_receiving_changes_after_a_host_stops()
    {
        await using var box = await BoxCluster.StartAsync(silos: 2, apiHosts: 2);
        var token = box.Tokens.Tenant("tenant-a");
        HttpClient Http(int host)
        {
            var http = new HttpClient { BaseAddress = box.ApiHosts[host].BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            return http;
        }
        using var http = Http(0);
        var names = Enumerable.Range(0, 2).Select(_ => $"wsstop-{Guid.NewGuid():N}"[..15]).ToList();

        await using var staying = await EventSocketClient.ConnectAsync(box.ApiHosts[0].BaseAddress, token);
        await using var leaving = await EventSocketClient.ConnectAsync(box.ApiHosts[1].BaseAddress, token);

        // 1. SIGTERM: the host closes its socket with 1001, unsubscribes and exits.
        var stopping = box.ApiHosts[1].Process;
        stopping.Terminate();
        var closed = await Assert.ThrowsAsync<WebSocketClosedException>(() => leaving.WaitForAsync(_ => false));
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, closed.Status);
        Assert.True(stopping.WaitForExit(TimeSpan.FromSeconds(60)), stopping.RecentOutput);
        await CreateAsync(http, names[0], box);
        await staying.WaitForAsync(Is("model.created", names[0]));
        await staying.WaitForAsync(Is("model.status", names[0]));

        // Started again on its address: a new subscriber there receives the changes, as does the one that stayed.
        await box.RestartApiHostAsync(1);
        await using var returned = await EventSocketClient.ConnectAsync(box.ApiHosts[1].BaseAddress, token);
        var updated = await http.PutAsJsonAsync($"/api/models/{names[0]}", new { maxReplicas = 5 });
        Assert.True(updated.StatusCode == HttpStatusCode.OK, await updated.Content.ReadAsStringAsync() + box.Diagnostics());
        await staying.WaitForAsync(Is("model.updated", names[0]));
        await returned.WaitForAsync(Is("model.updated", names[0]));

        // 2. SIGKILL: no unsubscribe at all; its subscription stays behind, with a consumer whose client is gone.
        box.ApiHosts[1].Process.Kill();
        await CreateAsync(http, names[1], box);
        await staying.WaitForAsync(Is("model.created", names[1]));
        await staying.WaitForAsync(Is("model.status", names[1]));
        var deleted = await http.DeleteAsync($"/api/models/{names[1]}");
        Assert.True(deleted.StatusCode == HttpStatusCode.OK, await deleted.Content.ReadAsStringAsync() + box.Diagnostics());
        await staying.WaitForAsync(Is("model.deleted", names[1]));
    }

    private static Func<JsonNode, bool> Is(string type, string name) =>
        m => m["type"]?.GetValue<string>() == type && m["name"]?.GetValue<string>() == name;

    private static async Task CreateAsync(HttpClient http, string name, BoxCluster box)
    {
        var created = await http.PostAsJsonAsync("/api/models", new { name, framework = "sklearn", storageUri = "s3://bucket/model", minReplicas = 1, maxReplicas = 3 });
        Assert.True(created.StatusCode == HttpStatusCode.Created, await created.Content.ReadAsStringAsync() + box.Diagnostics());
    }
}
