using System.Text.Json.Nodes;
using k8s;
using static KubeEmulator.Tests.EmulatorFixture;

namespace KubeEmulator.Tests;

public sealed class PersistenceTests
{
    [Fact]
    public async Task Data_file_keeps_objects_across_restarts()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"kube-emulator-data-{Guid.NewGuid():N}");
        var dataFile = Path.Combine(dir, "k8s.json");
        void Configure(EmulatorOptions o)
        {
            o.Urls = "http://127.0.0.1:0";
            o.DataFile = dataFile;
            o.ReadyDelay = TimeSpan.FromMilliseconds(100);
        }
        try
        {
            string uid;
            await using (var first = KubeEmulatorApp.Build([], Configure))
            {
                await first.StartAsync();
                using var client = new Kubernetes(new KubernetesClientConfiguration { Host = first.BaseAddress() });
                var created = await client.CustomObjects.CreateNamespacedCustomObjectAsync<JsonObject>(Isvc("kept"), Group, IsvcVersion, "tenant-a", Plural);
                uid = created["metadata"]!["uid"]!.GetValue<string>();
                await first.StopAsync();
            }

            await using var second = KubeEmulatorApp.Build([], Configure);
            await second.StartAsync();
            using var again = new Kubernetes(new KubernetesClientConfiguration { Host = second.BaseAddress() });
            var restored = await again.CustomObjects.GetNamespacedCustomObjectAsync<JsonObject>(Group, IsvcVersion, "tenant-a", Plural, "kept");
            Assert.Equal(uid, restored["metadata"]!["uid"]!.GetValue<string>());

            // Writes after a restart continue the resourceVersion sequence instead of reusing old values.
            var patched = await again.CustomObjects.PatchNamespacedCustomObjectAsync<JsonObject>(
                new k8s.Models.V1Patch(new { metadata = new { labels = new { after = "restart" } } }, k8s.Models.V1Patch.PatchType.MergePatch),
                Group, IsvcVersion, "tenant-a", Plural, "kept");
            Assert.True(long.Parse(patched["metadata"]!["resourceVersion"]!.GetValue<string>()) > long.Parse(restored["metadata"]!["resourceVersion"]!.GetValue<string>()));
            await second.StopAsync();
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }
}
