using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Inference.TestSupport;

namespace Inference.Cluster.Tests;

/// <summary>Silos started as the chart starts them in pods (POD_NAME, POD_NAMESPACE, POD_IP, KUBERNETES_SERVICE_HOST/
/// PORT, the pod's labels), each with its Pod in the emulator, so that Orleans' Kubernetes hosting runs for real
/// against it. The service account's token and CA live at a fixed path no test can provide, so the API server is
/// reached through KUBECONFIG, which the silo prefers (as every Kubernetes client of the service does).</summary>
public sealed class KubernetesHostingTests
{
    private const string Namespace = "inference";

    [Fact]
    public async Task A_deleted_pod_takes_its_silo_out_of_the_cluster_and_a_dead_silo_loses_its_pod()
    {
        using var kube = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var pods = new List<string>();
        await using var box = await BoxCluster.StartAsync(silos: 3, apiHosts: 0, siloEnvironment: async (cluster, i) =>
        {
            kube.BaseAddress ??= new Uri(cluster.Emulator.BaseAddress);
            if (i == 0)
            {
                await Created(kube.PostAsJsonAsync("/api/v1/namespaces", new { apiVersion = "v1", kind = "Namespace", metadata = new { name = Namespace } }));
            }
            var pod = $"silo-{cluster.ClusterId}-{i}";
            pods.Add(pod);
            await Created(kube.PostAsJsonAsync($"/api/v1/namespaces/{Namespace}/pods", new
            {
                apiVersion = "v1",
                kind = "Pod",
                metadata = new
                {
                    name = pod,
                    labels = new Dictionary<string, string>
                    {
                        ["app.kubernetes.io/component"] = "silo",
                        ["orleans/serviceId"] = "inference-management",
                        ["orleans/clusterId"] = cluster.ClusterId,
                    },
                },
                spec = new { containers = new[] { new { name = "silo", image = "inference-management/silo:test" } } },
            }));
            var api = new Uri(cluster.Emulator.BaseAddress);
            return new Dictionary<string, string>
            {
                ["KUBERNETES_SERVICE_HOST"] = api.Host,
                ["KUBERNETES_SERVICE_PORT"] = api.Port.ToString(),
                ["POD_NAME"] = pod,
                ["POD_NAMESPACE"] = Namespace,
                ["POD_IP"] = "127.0.0.1",
                ["ORLEANS_SERVICE_ID"] = "inference-management",
                ["ORLEANS_CLUSTER_ID"] = cluster.ClusterId,
                ["Logging__LogLevel__Orleans.Hosting.Kubernetes"] = "Information",
                ["Logging__LogLevel__Orleans.Runtime.MembershipService"] = "Information",
            };
        });
        var management = box.Client.GetGrain<IManagementGrain>(0);

        // Each silo took its pod's name: that is how the hosting package matches pods to silos.
        await TestEnvironment.Eventually(async () => string.Join(", ", (await Hosts(management) ?? []).Where(h => h.Status == SiloStatus.Active).Select(h => h.SiloName).Order()),
            names => names == string.Join(", ", pods.Order()), TimeSpan.FromSeconds(60), $"the silos to be named after their pods\n{box.Diagnostics()}");
        // The pod environment does not widen where a silo listens: without Cluster__AdvertisedIP, loopback only.
        Assert.All(box.Silos, s => Assert.Equal(["127.0.0.1"], ListeningAddresses(s.SiloPort)));

        // A silo dies without a word: the cluster declares it dead, and a surviving silo deletes its pod (in a
        // Deployment, the ReplicaSet then starts a fresh one).
        box.Silos[2].Process.Kill();
        await TestEnvironment.Eventually(() => kube.GetAsync($"/api/v1/namespaces/{Namespace}/pods/{pods[2]}"),
            r => r.StatusCode == HttpStatusCode.NotFound, TimeSpan.FromSeconds(90), $"the dead silo's pod {pods[2]} to be deleted\n{box.Diagnostics()}");

        // A pod is deleted (drained node, scale-down, kubectl delete): its silo is declared dead at once instead of
        // after missed probes, and the silo, learning it, stops.
        var deleted = await kube.DeleteAsync($"/api/v1/namespaces/{Namespace}/pods/{pods[1]}");
        Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        await TestEnvironment.Eventually(async () => (await Hosts(management))?.Single(h => h.SiloName == pods[1]).Status,
            status => status == SiloStatus.Dead, TimeSpan.FromSeconds(60), $"the silo of the deleted pod {pods[1]} to be declared dead\n{box.Diagnostics()}");
        await TestEnvironment.Eventually(() => Task.FromResult(box.Silos[1].Process.HasExited), exited => exited, TimeSpan.FromSeconds(60),
            "the silo declared dead to stop");

        // The survivor and its pod are untouched.
        Assert.Equal(HttpStatusCode.OK, (await kube.GetAsync($"/api/v1/namespaces/{Namespace}/pods/{pods[0]}")).StatusCode);
        // (The test's client may send its next call to the stopped silo's gateway until it drops it from its list.)
        var active = await TestEnvironment.Eventually(() => Hosts(management, onlyActive: true), hosts => hosts is not null,
            TimeSpan.FromSeconds(30), "the cluster to answer through a live gateway");
        Assert.Equal(pods[0], Assert.Single(active!).SiloName);
    }

    /// <summary>Every silo the membership knows of, or null while the management grain is unreachable (it may
    /// have lived on the silo just taken out).</summary>
    private static async Task<MembershipEntry[]?> Hosts(IManagementGrain management, bool onlyActive = false)
    {
        try
        {
            return await management.GetDetailedHosts(onlyActive);
        }
        catch (Exception e) when (e is TimeoutException or OrleansException)
        {
            return null;
        }
    }

    private static async Task Created(Task<HttpResponseMessage> request)
    {
        var response = await request;
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
    }

    /// <summary>The local addresses of the sockets listening on <paramref name="port"/> (IPv4, from /proc).</summary>
    private static List<string> ListeningAddresses(int port) =>
        File.ReadLines("/proc/net/tcp").Skip(1)
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f[3] == "0A" && Convert.ToInt32(f[1].Split(':')[1], 16) == port)
            .Select(f => new IPAddress(BitConverter.GetBytes(Convert.ToUInt32(f[1].Split(':')[0], 16))).ToString())
            .Concat(File.ReadLines("/proc/net/tcp6").Skip(1)
                .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Where(f => f[3] == "0A" && Convert.ToInt32(f[1].Split(':')[1], 16) == port)
                .Select(_ => "an IPv6 address"))
            .ToList();
}
