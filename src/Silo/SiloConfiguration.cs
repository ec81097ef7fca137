using Azure.Data.Tables;
using Inference.Grains;
using Inference.Grains.Abstractions.Events;
using Inference.Shared.Kubernetes;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Hosting.Kubernetes;
using Orleans.Dashboard;
using Orleans.Providers;

namespace Inference.Silo;

public static class SiloConfiguration
{
    /// <summary>Configures a silo of the management service: clustering, grain storage, failure detection.
    /// Used by the Silo process and by the API host when it co-hosts a silo (embedded mode).</summary>
    public static ISiloBuilder ConfigureInferenceSilo(this ISiloBuilder silo, IConfiguration configuration)
    {
        var settings = ClusterSettings.From(configuration);
        silo.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = settings.ClusterId;
            o.ServiceId = settings.ServiceId;
        });
        if (settings.Clustering == ClusteringMode.Localhost)
        {
            silo.UseLocalhostClustering(settings.SiloPort, settings.GatewayPort, serviceId: settings.ServiceId, clusterId: settings.ClusterId);
        }
        else
        {
            var advertised = settings.AdvertisedIP is { Length: > 0 } ip ? System.Net.IPAddress.Parse(ip) : System.Net.IPAddress.Loopback;
            silo.ConfigureEndpoints(advertised, settings.SiloPort, settings.GatewayPort, listenOnAnyHostAddress: settings.AdvertisedIP is not null);
            if (settings.AdvertisedIP is null)
            {
                // Kubernetes hosting would otherwise listen on every interface whenever none is set.
                silo.Configure<EndpointOptions>(o =>
                {
                    o.SiloListeningEndpoint = new System.Net.IPEndPoint(advertised, settings.SiloPort);
                    o.GatewayListeningEndpoint = new System.Net.IPEndPoint(advertised, settings.GatewayPort);
                });
            }
            silo.UseAzureStorageClustering(o =>
            {
                o.TableServiceClient = new TableServiceClient(settings.StorageConnectionString);
                o.TableName = settings.MembershipTable;
            });
            if (KubernetesHosting.InPod)
            {
                silo.UseKubernetesHosting(KubernetesHosting.Configure);
            }
        }
        silo.AddAzureTableGrainStorage(StorageNames.State, o =>
        {
            o.TableServiceClient = new TableServiceClient(settings.StorageConnectionString);
            o.TableName = settings.GrainStateTable;
        });
        // Change events for /ws: in-memory queues (an event in flight on a dying silo may be lost; clients
        // re-read over REST on reconnect), but subscriptions in Azure Tables so they survive any silo's death.
        silo.AddMemoryStreams(ChangeStreams.Provider);
        silo.AddAzureTableGrainStorage(ProviderConstants.DEFAULT_PUBSUB_PROVIDER_NAME, o =>
        {
            o.TableServiceClient = new TableServiceClient(settings.StorageConnectionString);
            o.TableName = settings.PubSubTable;
        });
        silo.Configure<ClusterMembershipOptions>(FailureDetection.Configure);
        silo.Services.AddShutdownBound(settings);
        silo.Configure<SiloMessagingOptions>(o =>
        {
            o.ResponseTimeout = FailureDetection.ResponseTimeout;
            o.SystemResponseTimeout = FailureDetection.ResponseTimeout;
        });
        // Localhost clustering is one process on loopback; anything that forms a cluster over the network
        // must authenticate its peers.
        silo.UseClusterTls(required: settings.Clustering != ClusteringMode.Localhost);
        silo.Services.AddInferenceGrains(configuration);
        silo.AddDashboard();
        if (Telemetry.TracingEnabled(configuration))
        {
            silo.AddActivityPropagation();
        }
        return silo;
    }
}

/// <summary>Orleans' Kubernetes hosting (Microsoft.Orleans.Hosting.Kubernetes): the silo is named after its pod,
/// a silo whose pod is deleted is declared dead, and the pod of a silo declared dead is deleted (so the Deployment
/// replaces a hung process instead of leaving it running outside the cluster).</summary>
public static class KubernetesHosting
{
    /// <summary>The kubelet sets KUBERNETES_SERVICE_HOST in every container of every pod; nothing else does.
    /// POD_NAME, POD_NAMESPACE and POD_IP come from the chart (downward API).</summary>
    public static bool InPod => Environment.GetEnvironmentVariable("KUBERNETES_SERVICE_HOST") is { Length: > 0 };

    public static void Configure(OptionsBuilder<KubernetesHostingOptions> options) =>
        options.Configure<IOptions<KubernetesOptions>>((hosting, kubernetes) =>
        {
            // The same API server and credentials as the grains' client (KUBECONFIG when set, else the pod's
            // service account), not a second way of finding the cluster.
            hosting.GetClientConfiguration = () =>
            {
                var configuration = KubernetesClientSetup.ClientConfiguration(kubernetes.Value);
                // Its client cannot take KubernetesWatchStreams (docs/reliability.md): instead it reuses no connection,
                // so the connection of a watch it gives up carries no other call.
                var setup = configuration.FirstMessageHandlerSetup;
                configuration.FirstMessageHandlerSetup = handler =>
                {
                    setup?.Invoke(handler);
                    handler.PooledConnectionLifetime = TimeSpan.Zero;
                };
                return configuration;
            };
            hosting.DeleteDefunctSiloPods = true;
        });
}

/// <summary>Orleans' defaults take about a minute to declare a silo dead and 30 s to fail a call to it; a box
/// answering users needs seconds.</summary>
public static class FailureDetection
{
    /// <summary>Calls between silos: one lost with a dead silo is failed by the membership change (Orleans breaks a
    /// silo's calls to a silo declared dead), so this bounds only calls to a silo that is alive but stuck.</summary>
    public static readonly TimeSpan ResponseTimeout = TimeSpan.FromSeconds(10);

    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(1);

    private const int NumMissedProbesLimit = 2;

    /// <summary>From a silo's death to the cluster declaring it dead: the probes it misses, plus one probe period
    /// for where in its period the death fell.</summary>
    public static TimeSpan DetectionTime => ProbeTimeout * (NumMissedProbesLimit + 1);

    /// <summary>Calls from an Orleans client (an API host in client mode). A client never has its calls broken by a
    /// silo's death: Orleans 10 breaks outstanding calls only inside silos (SiloConnectionMaintainer), and a
    /// client's call travels through a gateway silo that keeps no record of it. A call lost with a dead silo
    /// therefore ends only at this timeout, which is why it is the detection time: no request waits longer than it
    /// takes the cluster to notice the death, and calls made after that go to the surviving silos.</summary>
    public static TimeSpan ClientResponseTimeout => DetectionTime;

    public static void Configure(ClusterMembershipOptions o)
    {
        o.ProbeTimeout = ProbeTimeout;
        o.NumMissedProbesLimit = NumMissedProbesLimit;
        o.NumProbedSilos = 2;
        o.NumVotesForDeathDeclaration = 1;
        o.TableRefreshTimeout = TimeSpan.FromSeconds(2);
        o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(10);
        o.DeathVoteExpirationTimeout = TimeSpan.FromSeconds(30);
        o.DefunctSiloExpiration = TimeSpan.FromMinutes(10);
    }
}
