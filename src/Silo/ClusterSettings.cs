namespace Inference.Silo;

public enum ClusteringMode
{
    /// <summary>One process, no membership table: the embedded default.</summary>
    Localhost,

    /// <summary>Membership in Azure Tables (Azurite locally, a storage account in production).</summary>
    AzureTable,
}

/// <summary>Section "Cluster": how silos and clients find each other and where grain state lives.</summary>
public sealed class ClusterSettings
{
    // Not "Orleans": Orleans binds that section itself (Orleans:Clustering:ProviderType, ...).
    public const string Section = "Cluster";

    public string ClusterId { get; set; } = "inference-box";

    public string ServiceId { get; set; } = "inference-management";

    public ClusteringMode Clustering { get; set; } = ClusteringMode.Localhost;

    public int SiloPort { get; set; } = 11111;

    public int GatewayPort { get; set; } = 30000;

    /// <summary>The address other silos and clients dial, when it is not loopback (a container's or pod's IP).
    /// Setting it also makes the silo listen on all interfaces.</summary>
    public string? AdvertisedIP { get; set; }

    /// <summary>Azure Storage connection string; the default reaches Azurite on its standard ports.</summary>
    public string StorageConnectionString { get; set; } = "UseDevelopmentStorage=true";

    /// <summary>Prefix for the Azure table names, so several boxes can share one storage account.</summary>
    public string TablePrefix { get; set; } = "inference";

    public string MembershipTable => $"{TablePrefix}membership";

    public string GrainStateTable => $"{TablePrefix}grainstate";

    public string PubSubTable => $"{TablePrefix}pubsub";

    /// <summary>The API's audit trail (written by the API hosts, not by grains).</summary>
    public string AuditTable => $"{TablePrefix}audit";

    public static ClusterSettings From(Microsoft.Extensions.Configuration.IConfiguration configuration)
    {
        var settings = new ClusterSettings();
        configuration.GetSection(Section).Bind(settings);
        if (configuration.GetConnectionString("Storage") is { Length: > 0 } connection)
        {
            settings.StorageConnectionString = connection;
        }
        return settings;
    }
}
