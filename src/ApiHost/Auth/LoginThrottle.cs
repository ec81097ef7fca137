using System.Net;
using Inference.ApiHost.Http;

namespace Inference.ApiHost.Auth;

/// <summary>Admin login attempts per source address, so password guessing is slow. Every attempt is counted
/// before its password is checked, so concurrent guesses cannot all slip through one check; a successful login
/// clears its source. Per API host: an attacker spreading over hosts gains a factor of the host count, not more.
/// The source is the connection's address, or the client a trusted proxy reports (ForwardedHeaders).</summary>
public sealed class LoginThrottle(AuthSettings settings, TimeProvider time)
{
    private readonly FailureCounter _attempts = new(settings.LoginFailuresPerMinute, time, settings.LoginTrackedSources);

    /// <summary>Counts an attempt; the seconds to wait when it is refused, else null.</summary>
    public int? Attempt(IPAddress source) => _attempts.TryAttempt(source, out var retryAfter) ? null : retryAfter;

    public void Succeeded(IPAddress source) => _attempts.Reset(source);

    public int TrackedSources => _attempts.TrackedSources;
}
