using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Inference.Grains.Abstractions;
using Inference.Grains.Abstractions.Models;
using Inference.TestSupport;

namespace Inference.Cluster.Tests;

public sealed class RealtimeFailoverTests
{
    [Fact]
    public async Task After_the_models_silo_dies_a_reconnected_client_still_gets_its_changes()
    {
        await using var box = await BoxCluster.StartAsync(silos: 2, apiHosts: 1);
        var api = box.ApiHosts[0].BaseAddress;
        var token = box.Tokens.Tenant("tenant-a");
        using var http = new HttpClient { BaseAddress = api, Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        var name = $"wsfail-{Guid.NewGuid():N}"[..15];

        await using var first = await EventSocketClient.ConnectAsync(api, token, $"model={name}");
        var created = await http.PostAsJsonAsync("/api/models", new { name, framework = "sklearn", storageUri = "s3://bucket/model", minReplicas = 1, maxReplicas = 3 });
        Assert.True(created.StatusCode == HttpStatusCode.Created, await created.Content.ReadAsStringAsync() + box.Diagnostics());
        await first.WaitForAsync(m => m["type"]!.GetValue<string>() == "model.created");

        var grain = box.Client.GetGrain<IModelGrain>(GrainKeys.Scoped("tenant-a", name));
        await grain.GetAsync();
        var host = await box.Client.GetGrain<IManagementGrain>(0).GetActivationAddress(grain);
        box.Silos.Single(s => s.SiloPort == host!.Endpoint.Port).Process.Kill();

        // The client reconnects (retrying while the cluster settles), re-reads over REST, then sees later changes.
        await using var reconnected = await TestEnvironment.Eventually(async () =>
        {
            try
            {
                return await EventSocketClient.ConnectAsync(api, token, $"model={name}");
            }
            catch (Exception e) when (e is System.Net.WebSockets.WebSocketException or WebSocketClosedException or OperationCanceledException)
            {
                return null;
            }
        }, s => s is not null, TimeSpan.FromSeconds(60), "a new /ws connection");
        await TestEnvironment.Eventually(() => http.GetAsync($"/api/models/{name}"), r => r.StatusCode == HttpStatusCode.OK,
            TimeSpan.FromSeconds(60), "the model to be served again");

        var updated = await TestEnvironment.Eventually(
            () => http.PutAsJsonAsync($"/api/models/{name}", new { maxReplicas = 5 }),
            r => r.StatusCode != HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(60), "the update to be accepted");
        Assert.Equal(HttpStatusCode.OK, updated.StatusCode);
        var (change, _) = await reconnected!.WaitForAsync(m => m["type"]!.GetValue<string>() == "model.updated");
        Assert.Equal(5, change["resource"]!["predictor"]!["maxReplicas"]!.GetValue<int>());

        var deleted = await http.DeleteAsync($"/api/models/{name}");
        Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        await reconnected.WaitForAsync(m => m["type"]!.GetValue<string>() == "model.deleted");
    }
}
