namespace Inference.Silo;

public enum ClusteringMode
{
    /// <summary>One process, no membership table: the embedded default.</summary>
    Localhost,

    /// <summary>Membership in Azure Tables (Azurite locally, a storage account in production).</summary>
    AzureTable,
}

/// <summary>Section "Cluster": how silos and clients find each other and where grain state lives.</summary>
public sealed partial class ClusterSettings
{
    // Not "Orleans": Orleans binds that section itself (Orleans:Clustering:ProviderType, ...).
    public const string Section = "Cluster";

    public string ClusterId { get; set; } = "inference-box";

    public string ServiceId { get; set; } = "inference-management";

    public ClusteringMode Clustering { get; set; } = ClusteringMode.Localhost;

    public int SiloPort { get; set; } = 11111;

    public int GatewayPort { get; set; } = 30000;

    /// <summary>How long an API host in client mode waits for a grain call; unset: the failure detection time
    /// (<see cref="FailureDetection.ClientResponseTimeout"/>). A call that takes longer answers 503 (retry).</summary>
    public TimeSpan? ClientResponseTimeout { get; set; }

    /// <summary>A process sent SIGTERM exits within this, whatever is down (see <see cref="ShutdownBound"/>).</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);

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

    /// <summary>Read once, before the host's services exist, because the Orleans builders need these values to be
    /// configured at all; so checked here, with the same kind of message the other settings give at start.</summary>
    public static ClusterSettings From(Microsoft.Extensions.Configuration.IConfiguration configuration)
    {
        var settings = new ClusterSettings();
        configuration.GetSection(Section).Bind(settings);
        if (configuration.GetConnectionString("Storage") is { Length: > 0 } connection)
        {
            settings.StorageConnectionString = connection;
        }
        return settings.Problem() is { } problem
            ? throw new Microsoft.Extensions.Options.OptionsValidationException(Section, typeof(ClusterSettings), [problem])
            : settings;
    }

    public string? Problem() =>
        string.IsNullOrWhiteSpace(ClusterId) || string.IsNullOrWhiteSpace(ServiceId)
            ? $"{Section}__ClusterId and {Section}__ServiceId must not be empty."
        : SiloPort is < 1 or > 65535 || GatewayPort is < 1 or > 65535 || SiloPort == GatewayPort
            ? $"{Section}__SiloPort and {Section}__GatewayPort must be two different ports (1-65535)."
        : AdvertisedIP is { Length: > 0 } ip && !System.Net.IPAddress.TryParse(ip, out _)
            ? $"{Section}__AdvertisedIP must be an IP address (a pod's: status.podIP)."
        : !TablePrefixPattern().IsMatch(TablePrefix)
            ? $"{Section}__TablePrefix must be 1-40 letters or digits, starting with a letter (Azure table names)."
        : ShutdownTimeout <= TimeSpan.Zero
            ? $"{Section}__ShutdownTimeout must be a positive duration (e.g. 00:00:30)."
        : ClientResponseTimeout is { } timeout && timeout <= TimeSpan.Zero
            ? $"{Section}__ClientResponseTimeout must be a positive duration, or unset for the failure detection time."
        : string.IsNullOrWhiteSpace(StorageConnectionString)
            ? "ConnectionStrings__Storage (or Cluster__StorageConnectionString) must be an Azure Storage connection string."
        : null;

    [System.Text.RegularExpressions.GeneratedRegex("^[A-Za-z][A-Za-z0-9]{0,39}\\z")]
    private static partial System.Text.RegularExpressions.Regex TablePrefixPattern();
}
