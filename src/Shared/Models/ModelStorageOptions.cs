using System.Net;
using System.Net.Sockets;

namespace Inference.Shared.Models;

/// <summary>Which model stores a tenant may name by an address inside the cluster's own networks. KServe's storage
/// initializer fetches an http(s) storageUri from inside the cluster, so a literal loopback, link-local or private
/// address would let a tenant make it read the cluster's internal services (metadata endpoints, other tenants'
/// pods); those are refused unless listed here.</summary>
public sealed class ModelStorageOptions
{
    public const string Section = "ModelStorage";

    /// <summary>Host names (exact, case-insensitive), IP addresses or CIDR ranges admitted despite the rule above,
    /// for in-cluster model stores.</summary>
    public List<string> AllowedHosts { get; set; } = [];

    public string? Problem() =>
        AllowedHosts.FirstOrDefault(h => !IPNetwork.TryParse(h, out _) && !IPAddress.TryParse(h, out _)
            && Uri.CheckHostName(h) != UriHostNameType.Dns) is { } bad
            ? $"{Section}__AllowedHosts: '{bad}' is neither a host name, an IP address nor a CIDR range."
            : null;

    private static readonly IPNetwork[] Internal =
    [
        IPNetwork.Parse("0.0.0.0/8"),
        IPNetwork.Parse("10.0.0.0/8"),
        IPNetwork.Parse("100.64.0.0/10"),
        IPNetwork.Parse("127.0.0.0/8"),
        IPNetwork.Parse("169.254.0.0/16"),
        IPNetwork.Parse("172.16.0.0/12"),
        IPNetwork.Parse("192.168.0.0/16"),
        // The unspecified and loopback addresses and the deprecated IPv4-compatible form (::a.b.c.d).
        IPNetwork.Parse("::/96"),
        IPNetwork.Parse("fc00::/7"),
        IPNetwork.Parse("fe80::/10"),
    ];

    /// <summary>True when <paramref name="host"/> (as <see cref="Uri.DnsSafeHost"/> gives it) names the local
    /// machine or an internal address, and no allow-list entry admits it.</summary>
    public bool Refuses(string host)
    {
        host = host.Trim('[', ']').TrimEnd('.').ToLowerInvariant();
        if (IPAddress.TryParse(host, out var ip))
        {
            if (ip.IsIPv4MappedToIPv6)
            {
                ip = ip.MapToIPv4();
            }
            return Internal.Any(n => n.Contains(ip)) && !AllowedHosts.Any(a => Admits(a, ip));
        }
        var local = host == "localhost" || host.EndsWith(".localhost", StringComparison.Ordinal);
        return local && !AllowedHosts.Any(a => string.Equals(a.TrimEnd('.'), host, StringComparison.OrdinalIgnoreCase));
    }

    private static bool Admits(string entry, IPAddress ip)
    {
        if (IPNetwork.TryParse(entry, out var network))
        {
            return network.Contains(ip);
        }
        if (!IPAddress.TryParse(entry, out var single))
        {
            return false;
        }
        single = single.IsIPv4MappedToIPv6 ? single.MapToIPv4() : single;
        return new IPNetwork(single, single.AddressFamily == AddressFamily.InterNetwork ? 32 : 128).Contains(ip);
    }
}
