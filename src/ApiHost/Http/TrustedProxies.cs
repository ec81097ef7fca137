using System.Net;
using Microsoft.AspNetCore.HttpOverrides;

namespace Inference.ApiHost.Http;

/// <summary>Section "ForwardedHeaders": the proxies (an ingress, the gateway) whose <c>X-Forwarded-For</c> names the
/// real client, so that per-source limits (admin login) and audit records see clients, not the proxy. ASP.NET
/// Core's ForwardedHeaders middleware does the work; nothing is trusted unless configured here (its loopback
/// default is cleared), so a client cannot pick its own source address.</summary>
public static class TrustedProxies
{
    public const string Section = "ForwardedHeaders";

    /// <summary>Binds <c>ForwardedHeaders:KnownProxies:N</c> (addresses) and <c>ForwardedHeaders:KnownNetworks:N</c>
    /// (CIDR ranges); false when none is configured (the middleware is then not used at all).</summary>
    public static bool AddTrustedProxies(this IServiceCollection services, IConfiguration configuration)
    {
        var section = configuration.GetSection(Section);
        var proxies = Values(section.GetSection("KnownProxies"))
            .Select(p => IPAddress.TryParse(p, out var a) ? a : throw new InvalidOperationException($"{Section}:KnownProxies: '{p}' is not an IP address"))
            .ToList();
        var networks = Values(section.GetSection("KnownNetworks"))
            .Select(n => System.Net.IPNetwork.TryParse(n, out var net) ? net : throw new InvalidOperationException($"{Section}:KnownNetworks: '{n}' is not a CIDR range such as 10.0.0.0/8"))
            .ToList();
        if (proxies.Count == 0 && networks.Count == 0)
        {
            return false;
        }
        services.Configure<ForwardedHeadersOptions>(o =>
        {
            o.ForwardedHeaders = ForwardedHeaders.XForwardedFor;
            o.KnownProxies.Clear();
            o.KnownIPNetworks.Clear();
            proxies.ForEach(o.KnownProxies.Add);
            networks.ForEach(o.KnownIPNetworks.Add);
            // Walk X-Forwarded-For from the right while each hop is a trusted proxy: the first untrusted address is
            // the client, whatever the client wrote further left.
            o.ForwardLimit = null;
        });
        return true;
    }

    private static IEnumerable<string> Values(IConfigurationSection section) =>
        section.GetChildren().Select(c => c.Value?.Trim()).Where(v => !string.IsNullOrEmpty(v)).Select(v => v!);
}
