using Inference.ApiHost.Http;
using System.Net;
using Microsoft.Extensions.Options;

namespace Inference.ApiHost.Keys;

/// <summary>Failed key validations per source: which address a request counts against (behind trusted proxies, the
/// client they report), counted by a <see cref="FailureCounter"/>.</summary>
public sealed class SourceThrottle(IOptions<KeyValidationOptions> options, IOptions<ProxyOptions> proxies, TimeProvider time)
{
    private readonly FailureCounter _failures = new(options.Value.FailuresPerMinute, time);
    private readonly IPNetwork[] _trusted = proxies.Value.Networks();

    public int Limit => _failures.Limit;

    /// <summary>The source to count against: the connection's address, or for a trusted proxy the client it reports:
    /// Envoy's <c>X-Envoy-External-Address</c> (the one address it trusts), else the last <c>X-Forwarded-For</c>
    /// entry (the one that connected to it).</summary>
    public IPAddress Source(HttpContext context)
    {
        var remote = context.Connection.RemoteIpAddress ?? IPAddress.None;
        if (remote.IsIPv4MappedToIPv6)
        {
            remote = remote.MapToIPv4();
        }
        if (_trusted.Length == 0 || !IsTrusted(remote))
        {
            return remote;
        }
        var headers = context.Request.Headers;
        if (headers["X-Envoy-External-Address"] is { Count: > 0 } external && IPAddress.TryParse(external[^1].AsSpan().Trim(), out var client))
        {
            return client;
        }
        if (headers["X-Forwarded-For"] is { Count: > 0 } forwarded)
        {
            var last = forwarded[^1]!;
            var comma = last.LastIndexOf(',');
            if (IPAddress.TryParse(last.AsSpan(comma + 1).Trim(), out client))
            {
                return client;
            }
        }
        return remote;
    }

    /// <summary>Seconds until the source's failures stop being refused, or 0 when they are not.</summary>
    public int RetryAfter(IPAddress source, out int remaining) => _failures.RetryAfter(source, out remaining);

    public void Failed(IPAddress source) => _failures.Failed(source);

    private bool IsTrusted(IPAddress address)
    {
        foreach (var network in _trusted)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }
        return false;
    }
}
