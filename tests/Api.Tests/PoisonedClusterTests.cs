using System.Diagnostics.Metrics;
using System.Net;
using System.Text.Json.Nodes;
using Inference.Grains.Kubernetes;
using Inference.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Api.Tests;

/// <summary>A box whose cluster holds an InferenceService no model can be made of, as one left by an older version
/// (before names were checked to the end) in the emulator's data file: "aaa\n", with the service's labels, first in
/// every list. It also shows the pods of one more namespace in the kubectl console, by setting.</summary>
public sealed class PoisonedClusterFixture : ApiFixture
{
    public const string PoisonName = "aaa\n";

    private readonly string _dataFile = Path.Combine(Path.GetTempPath(), $"poisoned-{Guid.NewGuid():N}.json");

    protected override void ConfigureEmulator(KubeEmulator.EmulatorOptions options)
    {
        var now = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ");
        var poison = new JsonObject
        {
            ["apiVersion"] = "serving.kserve.io/v1beta1",
            ["kind"] = "InferenceService",
            ["metadata"] = new JsonObject
            {
                ["name"] = PoisonName,
                ["namespace"] = "tenant-a",
                ["uid"] = Guid.NewGuid().ToString(),
                ["resourceVersion"] = "1",
                ["generation"] = 1,
                ["creationTimestamp"] = now,
                ["labels"] = new JsonObject
                {
                    ["app.kubernetes.io/managed-by"] = "inference-management",
                    ["inference-in-a-box.io/tenant"] = "tenant-a",
                },
            },
            ["spec"] = new JsonObject
            {
                ["predictor"] = new JsonObject
                {
                    ["model"] = new JsonObject { ["modelFormat"] = new JsonObject { ["name"] = "sklearn" }, ["storageUri"] = "gs://b/m" },
                },
            },
            ["status"] = new JsonObject
            {
                ["observedGeneration"] = 1,
                ["url"] = "http://poison.tenant-a.example",
                ["conditions"] = new JsonArray(new JsonObject { ["type"] = "Ready", ["status"] = "True", ["lastTransitionTime"] = now }),
            },
        };
        File.WriteAllText(_dataFile, new JsonObject { ["resourceVersion"] = "1", ["objects"] = new JsonArray(poison) }.ToJsonString());
        options.DataFile = _dataFile;
    }

    protected override void Configure(IDictionary<string, string?> settings)
    {
        settings["Kubernetes:WatchRetryMax"] = "00:00:02";
        settings["Kubectl:Namespaces:0"] = "kube-system";
    }

    /// <summary>Objects the host's cluster watch has set aside for a retry of their own, as its metric says.</summary>
    public long ObjectsRetrying()
    {
        var factory = Services.GetRequiredService<IMeterFactory>();
        long? value = null;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Scope == factory && instrument.Meter.Name == WatchMetrics.MeterName && instrument.Name == "inference.watch.objects_retrying")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, measurement, _, _) => value = measurement);
        listener.Start();
        listener.RecordObservableInstruments();
        return value ?? throw new InvalidOperationException("The cluster watch publishes no objects_retrying gauge");
    }
}

public sealed class PoisonedClusterTests(PoisonedClusterFixture api) : IClassFixture<PoisonedClusterFixture>
{
    [Fact]
    public async Task An_object_that_can_never_be_a_model_stops_no_other_model_and_leaves_nothing_stuck_once_removed()
    {
        var client = api.Tenant("tenant-b");
        var name = await api.ReadyModelAsync(client);
        Assert.Equal("Ready", (await (await client.GetAsync($"/api/models/{name}")).Json())["status"]!.GetValue<string>());
        await TestEnvironment.Eventually(() => Task.FromResult(api.ObjectsRetrying()), n => n == 1, what: "the poison to wait for its own retry");
        Assert.Contains(api.Logs.Lines, m => m.Contains("\"tenant-a/aaa\\n\"", StringComparison.Ordinal));

        // Removed, it is no longer retried, and the watch carries on.
        // The Kubernetes client does not escape names in paths (a final newline would be trimmed away): by hand.
        using var emulator = new HttpClient { BaseAddress = new Uri(api.Emulator.BaseAddress) };
        (await emulator.DeleteAsync("/apis/serving.kserve.io/v1beta1/namespaces/tenant-a/inferenceservices/"
            + Uri.EscapeDataString(PoisonedClusterFixture.PoisonName))).EnsureSuccessStatusCode();
        await TestEnvironment.Eventually(() => Task.FromResult(api.ObjectsRetrying()), n => n == 0, what: "the removed object to be dropped");
        var next = await api.ReadyModelAsync(api.Tenant("tenant-a"));
        await (await api.Tenant("tenant-a").GetAsync($"/api/models/{next}")).AssertOk();
    }

    [Fact]
    public async Task A_setting_opens_the_pods_of_more_namespaces_to_the_kubectl_console()
    {
        await (await api.Admin().PostJson("/api/admin/kubectl", new { command = "get pods -n kube-system" })).AssertOk(HttpStatusCode.OK);
        await (await api.Admin().PostJson("/api/admin/kubectl", new { command = "get pods -n kserve" })).AssertError(HttpStatusCode.BadRequest, "tenant namespaces");
    }
}
