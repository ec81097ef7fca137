using Inference.Grains.Abstractions;
using Inference.Grains.Abstractions.Models;
using Inference.TestSupport;
using k8s;

namespace Inference.Grains.Tests;

/// <summary>The cluster-wide watch isolates an object whose handling fails: the others' changes keep flowing.</summary>
[Collection(ClusterCollection.Name)]
public sealed class WatchIsolationTests(ClusterFixture fixture)
{
    private static readonly ModelSpec Sklearn = new("sklearn", "s3://bucket/iris", 1, 2);

    private IKubernetes Kubernetes() =>
        new k8s.Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(fixture.Emulator.KubeconfigPath));

    private IModelGrain Model(string ns, string name) => fixture.Grains.GetGrain<IModelGrain>(GrainKeys.Scoped(ns, name));

    [Fact]
    public async Task A_model_whose_grain_cannot_write_stops_no_other_model_and_is_caught_up_once_it_can()
    {
        // Named to come first in every list of tenant-a, the first tenant: before the fix, every re-list stopped at it.
        var poison = "a" + Guid.NewGuid().ToString("N")[..8];
        var poisonKey = GrainKeys.Scoped("tenant-a", poison);
        FailingStorage.FailWritesOf(poisonKey);
        try
        {
            // Created by hand with the service's labels: the watch hands it to its grain, whose every write fails.
            await Kubernetes().CustomObjects.CreateNamespacedCustomObjectAsync(new
            {
                apiVersion = "serving.kserve.io/v1beta1",
                kind = "InferenceService",
                metadata = new
                {
                    name = poison,
                    labels = new Dictionary<string, string>
                    {
                        ["app.kubernetes.io/managed-by"] = "inference-management",
                        ["inference-in-a-box.io/tenant"] = "tenant-a",
                    },
                },
                spec = new { predictor = new { model = new { modelFormat = new { name = "sklearn" }, storageUri = "s3://x/y" } } },
            }, "serving.kserve.io", "v1beta1", "tenant-a", "inferenceservices");
            await TestEnvironment.Eventually(() => Task.FromResult(FailingStorage.FailedWrites(poisonKey)), n => n >= 2,
                what: "the watch to try the failing model more than once");

            var healthy = Model("tenant-b", "w" + Guid.NewGuid().ToString("N")[..8]);
            Assert.True((await healthy.CreateAsync(Sklearn)).IsSuccess);
            await TestEnvironment.Eventually(async () => (await healthy.GetAsync()).Value, v => v?.Ready == true,
                what: "another tenant's model to become Ready while one model keeps failing");
        }
        finally
        {
            FailingStorage.Heal(poisonKey);
        }

        // Nothing stays stuck: the failing model is retried on its own and catches up without any new event.
        var recovered = await TestEnvironment.Eventually(async () => (await Model("tenant-a", poison).GetAsync()).Value,
            v => v?.Ready == true, what: "the healed model to be adopted and Ready");
        Assert.Equal("sklearn", recovered!.Predictor.Framework);
    }
}
