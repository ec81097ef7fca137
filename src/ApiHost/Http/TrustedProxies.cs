using System.Net;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Options;

namespace Inference.ApiHost.Http;

/// <summary>Section "Proxies": the proxies (an ingress, the gateway's Envoy pods), as addresses or CIDR ranges, whose
/// forwarding headers name the real client. One list for every per-source decision: the admin login throttle and
/// audit records (through ASP.NET Core's ForwardedHeaders middleware) and the key-validation failure limit (which
/// reads Envoy's <c>X-Envoy-External-Address</c> too). Nothing is trusted unless listed (the middleware's loopback
/// default is cleared), so a client cannot pick its own source address.</summary>
public sealed class ProxyOptions
{
    public const string Section = "Proxies";

    /// <summary><c>Proxies__Trusted__0=10.0.0.0/8</c>, <c>Proxies__Trusted__1=192.168.1.7</c>.</summary>
    public List<string> Trusted { get; set; } = [];

    public string? Problem() =>
        Trusted.FirstOrDefault(p => !System.Net.IPNetwork.TryParse(p.Trim(), out _) && !IPAddress.TryParse(p.Trim(), out _)) is { } bad
            ? $"Proxies__Trusted: '{bad}' is neither an address nor a CIDR range such as 10.0.0.0/8."
            : null;

    /// <summary>Each entry as a network: an address is a network of one.</summary>
    public System.Net.IPNetwork[] Networks() =>
        [.. Trusted.Select(p => p.Trim()).Select(p => System.Net.IPNetwork.TryParse(p, out var network) ? network
            : new System.Net.IPNetwork(IPAddress.Parse(p), IPAddress.Parse(p).AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128))];
}

public static class TrustedProxies
{
    /// <summary>Registers <see cref="ProxyOptions"/>; true when any proxy is configured (without one the forwarded
    /// headers middleware is not used at all).</summary>
    public static bool AddTrustedProxies(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSettings<ProxyOptions>(ProxyOptions.Section, o => o.Problem());
        services.AddOptions<ForwardedHeadersOptions>().Configure<IOptions<ProxyOptions>>((o, proxies) =>
        {
            o.ForwardedHeaders = ForwardedHeaders.XForwardedFor;
            o.KnownProxies.Clear();
            o.KnownIPNetworks.Clear();
            foreach (var network in proxies.Value.Networks())
            {
                o.KnownIPNetworks.Add(network);
            }
            // Walk X-Forwarded-For from the right while each hop is a trusted proxy: the first untrusted address is
            // the client, whatever the client wrote further left.
            o.ForwardLimit = null;
        });
        return configuration.GetSection($"{ProxyOptions.Section}:Trusted").GetChildren().Any(c => !string.IsNullOrWhiteSpace(c.Value));
    }
}
