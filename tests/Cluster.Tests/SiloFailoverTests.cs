using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Inference.Grains.Abstractions;
using Inference.Grains.Abstractions.Models;
using Inference.TestSupport;

namespace Inference.Cluster.Tests;

public sealed class SiloFailoverTests
{
    [Fact]
    public async Task Killing_the_silo_that_hosts_a_model_loses_nothing_and_never_answers_500()
    {
        await using var box = await BoxCluster.StartAsync(silos: 2, apiHosts: 1);
        using var http = new HttpClient { BaseAddress = box.ApiHosts[0].BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", box.Tokens.Tenant("tenant-a"));

        var names = Enumerable.Range(0, 4).Select(i => $"fail{i}-{Guid.NewGuid():N}"[..14]).ToList();
        var acknowledged = new List<string>();
        foreach (var name in names)
        {
            // A cold cluster on a loaded machine may answer 503 (outcome unknown, retry); a retry then finds the
            // model either created (409) or not (201).
            var created = await TestEnvironment.Eventually(
                () => http.PostAsJsonAsync("/api/models", new { name, framework = "sklearn", storageUri = "s3://bucket/model", minReplicas = 1, maxReplicas = 3 }),
                r => r.StatusCode != HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(60), $"creating {name}");
            Assert.True(created.StatusCode is HttpStatusCode.Created or HttpStatusCode.Conflict, await created.Content.ReadAsStringAsync() + box.Diagnostics());
            if (created.StatusCode == HttpStatusCode.Created)
            {
                acknowledged.Add(name);
            }
        }

        // Find the silo holding the first model's grain, and kill it without warning.
        var victimModel = names[0];
        var grain = box.Client.GetGrain<IModelGrain>(GrainKeys.Scoped("tenant-a", victimModel));
        await grain.GetAsync();
        var host = await box.Client.GetGrain<IManagementGrain>(0).GetActivationAddress(grain);
        Assert.NotNull(host);
        var victim = box.Silos.Single(s => s.SiloPort == host!.Endpoint.Port);
        victim.Process.Kill();

        var statuses = new List<HttpStatusCode>();
        var model = await TestEnvironment.Eventually(async () =>
        {
            var response = await http.GetAsync($"/api/models/{victimModel}");
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
            {
                Assert.True(response.Headers.RetryAfter is not null, "503 without Retry-After");
            }
            return response.StatusCode == HttpStatusCode.OK ? JsonNode.Parse(await response.Content.ReadAsStringAsync()) : null;
        }, m => m is not null, TimeSpan.FromSeconds(60), "the model to be served by the surviving silo");

        Assert.DoesNotContain(statuses, s => (int)s >= 500 && s != HttpStatusCode.ServiceUnavailable);
        Assert.Equal("sklearn", model!["predictor"]!["framework"]!.GetValue<string>());

        var updated = await TestEnvironment.Eventually(
            () => http.PutAsJsonAsync($"/api/models/{victimModel}", new { maxReplicas = 5 }),
            r => r.StatusCode != HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(30), "the update to be accepted");
        Assert.Equal(HttpStatusCode.OK, updated.StatusCode);
        Assert.Equal(5, (await http.GetFromJsonAsync<JsonNode>($"/api/models/{victimModel}"))!["predictor"]!["maxReplicas"]!.GetValue<int>());

        var list = await http.GetFromJsonAsync<JsonNode>("/api/models");
        var listed = list!["models"]!.AsArray().Select(m => m!["name"]!.GetValue<string>()).ToHashSet();
        Assert.All(names, n => Assert.Contains(n, listed));

        // The audit trail lives beside the grain state, not in a silo: every acknowledged change is in it.
        using var admin = new HttpClient { BaseAddress = box.ApiHosts[0].BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", box.Tokens.Admin());
        var trail = (await admin.GetFromJsonAsync<JsonNode>("/api/admin/audit?tenant=tenant-a&limit=500"))!["records"]!.AsArray();
        Assert.All(acknowledged, n => Assert.Single(trail, r => r!["target"]?.GetValue<string>() == $"tenant-a/{n}"
            && r["action"]!.GetValue<string>() == "model.create" && r["status"]!.GetValue<int>() == 201));
        Assert.Contains(trail, r => r!["target"]?.GetValue<string>() == $"tenant-a/{victimModel}" && r["action"]!.GetValue<string>() == "model.update"
            && r["status"]!.GetValue<int>() == 200);

        // The admin view of the Orleans cluster drops the dead silo.
        var silos = await TestEnvironment.Eventually(
            async () => (await admin.GetFromJsonAsync<JsonNode>("/api/admin/system"))!["orleans"]!["silos"]!.AsArray(),
            s => s.Count == 1, TimeSpan.FromSeconds(60), "the dead silo to leave the admin view");
        Assert.Equal("Active", silos[0]!["status"]!.GetValue<string>());

        // A published key, for the gateway's key validation once no silo is left.
        var keyed = names[1];
        await TestEnvironment.Eventually(async () => await http.GetFromJsonAsync<JsonNode>($"/api/models/{keyed}"),
            m => m?["ready"]?.GetValue<bool>() == true, TimeSpan.FromSeconds(60), "the model to become Ready");
        var published = await http.PostAsJsonAsync($"/api/models/{keyed}/publish", new
        {
            config = new { rateLimiting = new { requestsPerMinute = 100, requestsPerHour = 1000, tokensPerHour = 0, burstLimit = 10 } },
        });
        var publishBody = await published.Content.ReadAsStringAsync();
        Assert.True(published.StatusCode == HttpStatusCode.Created, publishBody + box.Diagnostics());
        var key = JsonNode.Parse(publishBody)!["publishedModel"]!["apiKey"]!.GetValue<string>();

        // With no silo left at all, the API host still answers in the contract's shape: 503 and Retry-After, the key
        // validation (which skips most of the pipeline) included.
        foreach (var (silo, _) in box.Silos)
        {
            silo.Kill();
        }
        var down = await http.GetAsync($"/api/models/{keyed}");
        var validation = new HttpRequestMessage(HttpMethod.Post, "/api/validate-api-key");
        validation.Headers.Add("X-API-Key", key);
        var validationDown = await http.SendAsync(validation);
        foreach (var response in new[] { down, validationDown })
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.NotNull(response.Headers.RetryAfter);
            Assert.Equal("Service temporarily unavailable", JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!.GetValue<string>());
        }
    }
}
