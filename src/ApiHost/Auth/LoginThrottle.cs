using System.Net;
using Inference.ApiHost.Http;

namespace Inference.ApiHost.Auth;

/// <summary>Failed admin logins per source address, so password guessing is slow. Per API host: an attacker
/// spreading over hosts gains a factor of the host count, not more.</summary>
public sealed class LoginThrottle(AuthSettings settings, TimeProvider time)
{
    private readonly FailureCounter _failures = new(settings.LoginFailuresPerMinute, time, maxTrackedSources: 10_000);

    /// <summary>Seconds until the source may try again, or null when it may try now.</summary>
    public int? RetryAfter(IPAddress source) => _failures.RetryAfter(source, out _) is > 0 and var seconds ? seconds : null;

    public void Failed(IPAddress source) => _failures.Failed(source);

    public void Succeeded(IPAddress source) => _failures.Reset(source);
}
