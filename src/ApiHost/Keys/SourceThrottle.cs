using Inference.ApiHost.Http;
using System.Net;
using Microsoft.Extensions.Options;

namespace Inference.ApiHost.Keys;

/// <summary>Failed key validations per source: which address a request counts against (behind trusted proxies, the
/// client they report), counted by a <see cref="FailureCounter"/>.</summary>
public sealed class SourceThrottle(IOptions<KeyValidationOptions> options, TimeProvider time)
{
    private readonly FailureCounter _failures = new(options.Value.FailuresPerMinute, time);
    private readonly HashSet<IPAddress> _trusted = options.Value.TrustedProxyAddresses();

    public int Limit => _failures.Limit;

    /// <summary>The source to count against: the connection's address, or for a trusted proxy the address it
    /// reports last in <c>X-Forwarded-For</c> (the one that connected to it).</summary>
    public IPAddress Source(HttpContext context)
    {
        var remote = context.Connection.RemoteIpAddress ?? IPAddress.None;
        if (_trusted.Count > 0 && _trusted.Contains(remote)
            && context.Request.Headers["X-Forwarded-For"] is { Count: > 0 } forwarded)
        {
            var last = forwarded[^1]!;
            var comma = last.LastIndexOf(',');
            if (IPAddress.TryParse(last.AsSpan(comma + 1).Trim(), out var client))
            {
                return client;
            }
        }
        return remote;
    }

    /// <summary>Seconds until the source may try again, or 0 when it may try now.</summary>
    public int RetryAfter(IPAddress source, out int remaining) => _failures.RetryAfter(source, out remaining);

    public void Failed(IPAddress source) => _failures.Failed(source);
}
