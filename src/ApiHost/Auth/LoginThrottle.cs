using System.Collections.Concurrent;

namespace Inference.ApiHost.Auth;

/// <summary>Counts failed logins per source address in a fixed one-minute window, so password guessing is slow.
/// Per API host: an attacker spreading over hosts gains a factor of the host count, not more.</summary>
public sealed class LoginThrottle(AuthSettings settings, TimeProvider time)
{
    private const int MaxTrackedSources = 10_000;
    private readonly ConcurrentDictionary<string, Window> _failures = new();

    private sealed record Window(DateTimeOffset Start, int Count);

    /// <summary>Seconds until the source may try again, or null when it may try now.</summary>
    public int? RetryAfter(string source)
    {
        var now = time.GetUtcNow();
        if (_failures.TryGetValue(source, out var w) && now - w.Start < TimeSpan.FromMinutes(1) && w.Count >= settings.LoginFailuresPerMinute)
        {
            return Math.Max(1, (int)Math.Ceiling((w.Start + TimeSpan.FromMinutes(1) - now).TotalSeconds));
        }
        return null;
    }

    public void Failed(string source)
    {
        var now = time.GetUtcNow();
        if (_failures.Count >= MaxTrackedSources)
        {
            foreach (var (key, w) in _failures)
            {
                if (now - w.Start >= TimeSpan.FromMinutes(1))
                {
                    _failures.TryRemove(key, out _);
                }
            }
        }
        _failures.AddOrUpdate(source, _ => new Window(now, 1),
            (_, w) => now - w.Start >= TimeSpan.FromMinutes(1) ? new Window(now, 1) : w with { Count = w.Count + 1 });
    }

    public void Succeeded(string source) => _failures.TryRemove(source, out _);
}
