using Azure.Data.Tables;
using Inference.Grains;
using Inference.Grains.Abstractions.Events;
using Orleans.Configuration;
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
            silo.UseAzureStorageClustering(o =>
            {
                o.TableServiceClient = new TableServiceClient(settings.StorageConnectionString);
                o.TableName = settings.MembershipTable;
            });
            if (Environment.GetEnvironmentVariable("KUBERNETES_SERVICE_HOST") is { Length: > 0 })
            {
                // Pod names, labels and deletion from the Kubernetes API; outside a pod this would crash.
                silo.UseKubernetesHosting();
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
        silo.Configure<SiloMessagingOptions>(o =>
        {
            o.ResponseTimeout = FailureDetection.ResponseTimeout;
            o.SystemResponseTimeout = FailureDetection.ResponseTimeout;
        });
        // Localhost clustering is one process on loopback; anything that forms a cluster over the network
        // must authenticate its peers.
        silo.UseClusterTls(required: settings.Clustering != ClusteringMode.Localhost);
        silo.Services.AddInferenceGrains(configuration);
        return silo;
    }
}

/// <summary>Orleans' defaults take about a minute to declare a silo dead and 30 s to fail a call to it; a box
/// answering users needs seconds.</summary>
public static class FailureDetection
{
    public static readonly TimeSpan ResponseTimeout = TimeSpan.FromSeconds(10);

    public static void Configure(ClusterMembershipOptions o)
    {
        o.ProbeTimeout = TimeSpan.FromSeconds(1);
        o.NumMissedProbesLimit = 2;
        o.NumProbedSilos = 2;
        o.NumVotesForDeathDeclaration = 1;
        o.TableRefreshTimeout = TimeSpan.FromSeconds(2);
        o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(10);
        o.DeathVoteExpirationTimeout = TimeSpan.FromSeconds(30);
        o.DefunctSiloExpiration = TimeSpan.FromMinutes(10);
    }
}
