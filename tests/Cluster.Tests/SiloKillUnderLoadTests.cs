using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Inference.Grains.Abstractions;
using Inference.Grains.Abstractions.Models;
using Inference.TestSupport;
using Xunit.Abstractions;

namespace Inference.Cluster.Tests;

/// <summary>A silo SIGKILLed under a steady load through two API hosts in client mode: calls in flight to it end
/// once the cluster has noticed the death (they used to wait for the whole response timeout), and nothing but 503s
/// with Retry-After is answered meanwhile. Figures go to the test output (docs/reliability.md keeps them).</summary>
public sealed class SiloKillUnderLoadTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Killing_a_silo_under_load_answers_only_503s_with_retry_after_and_loses_no_acknowledged_write()
    {
        await using var box = await BoxCluster.StartAsync(silos: 2, apiHosts: 2);
        var keys = await PublishKeysAsync(box, "tenant-a", count: 2);

        await using var workload = new ChaosWorkload(box, "tenant-a", keys);
        workload.Start();
        await Task.Delay(TimeSpan.FromSeconds(5));

        // The silo holding the first model's grain (and with it part of the keys' grains) dies without warning.
        var victim = await SiloOfAsync(box, await FirstModelAsync(box));
        var killedAt = workload.Now;
        victim.Kill();
        await Task.Delay(TimeSpan.FromSeconds(15));
        await workload.StopAsync();
        var until = workload.Now;

        output.WriteLine(ChaosWorkload.SummaryHeader);
        output.WriteLine(workload.Summary("before the kill", 0, killedAt));
        output.WriteLine(workload.Summary("SIGKILL a silo", killedAt, until));

        var answers = workload.Answers.ToList();
        Assert.DoesNotContain(answers, a => a.Status >= 500 && a.Status != 503);
        Assert.All(answers.Where(a => a.Status == 503), a => Assert.True(a.RetryAfter, $"503 without Retry-After: {a}"));
        var lost = await workload.LostWritesAsync();
        Assert.True(lost.Count == 0, string.Join("\n", lost));
    }

    /// <summary>Publishes <paramref name="count"/> models of the tenant with limits far above the load; their keys.</summary>
    public static async Task<List<string>> PublishKeysAsync(BoxCluster box, string tenant, int count)
    {
        using var http = new HttpClient { BaseAddress = box.ApiHosts[0].BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", box.Tokens.Tenant(tenant));
        var keys = new List<string>();
        for (var i = 0; i < count; i++)
        {
            var name = $"keyed{i}-{Guid.NewGuid():N}"[..14];
            var created = await http.PostAsJsonAsync("/api/models", new { name, framework = "sklearn", storageUri = "s3://bucket/model" });
            Assert.True(created.StatusCode == HttpStatusCode.Created, await created.Content.ReadAsStringAsync() + box.Diagnostics());
            await TestEnvironment.Eventually(async () => await http.GetFromJsonAsync<JsonNode>($"/api/models/{name}"),
                m => m?["ready"]?.GetValue<bool>() == true, what: "the model to become Ready");
            var published = await http.PostAsJsonAsync($"/api/models/{name}/publish", new
            {
                config = new { rateLimiting = new { requestsPerMinute = 1_000_000, requestsPerHour = 10_000_000, tokensPerHour = 0, burstLimit = 1_000_000 } },
            });
            var body = await published.Content.ReadAsStringAsync();
            Assert.True(published.StatusCode == HttpStatusCode.Created, body + box.Diagnostics());
            keys.Add(JsonNode.Parse(body)!["publishedModel"]!["apiKey"]!.GetValue<string>());
        }
        return keys;
    }

    private static async Task<string> FirstModelAsync(BoxCluster box)
    {
        using var http = new HttpClient { BaseAddress = box.ApiHosts[0].BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", box.Tokens.Tenant("tenant-a"));
        var list = await http.GetFromJsonAsync<JsonNode>("/api/models");
        return list!["models"]!.AsArray()[0]!["name"]!.GetValue<string>();
    }

    /// <summary>The silo process that hosts the tenant's model grain <paramref name="model"/>.</summary>
    public static async Task<ServiceProcess> SiloOfAsync(BoxCluster box, string model)
    {
        var grain = box.Client.GetGrain<IModelGrain>(GrainKeys.Scoped("tenant-a", model));
        await grain.GetAsync();
        var host = await box.Client.GetGrain<IManagementGrain>(0).GetActivationAddress(grain);
        return box.Silos.Single(s => s.SiloPort == host!.Endpoint.Port).Process;
    }
}
