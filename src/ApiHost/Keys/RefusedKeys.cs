using System.Collections.Concurrent;
using Inference.Grains.Abstractions.Keys;

namespace Inference.ApiHost.Keys;

/// <summary>Keys their grain called unknown, revoked or expired, remembered for a short while, so a client that keeps
/// sending a dead key (or a forgery that guessed its tag) costs this host a lookup rather than a grain call each time.
/// Those answers do not change back: a key is issued before anyone can hold it, and revocation and expiry are final.
/// Bounded: past its size it starts over.</summary>
public sealed class RefusedKeys(TimeProvider time, int limit)
{
    public static readonly TimeSpan Period = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<string, (KeyCheck Check, long Until)> _refused = new(StringComparer.Ordinal);

    public KeyCheck? TryGet(string keyHash)
    {
        if (!_refused.TryGetValue(keyHash, out var entry))
        {
            return null;
        }
        if (entry.Until > time.GetTimestamp())
        {
            return entry.Check;
        }
        _refused.TryRemove(KeyValuePair.Create(keyHash, entry));
        return null;
    }

    public void Remember(string keyHash, KeyCheck check)
    {
        if (check.Outcome is not (KeyOutcome.Unknown or KeyOutcome.Revoked or KeyOutcome.Expired))
        {
            return;
        }
        if (_refused.Count >= limit)
        {
            _refused.Clear();
        }
        _refused[keyHash] = (check, time.GetTimestamp() + (long)(Period.TotalSeconds * time.TimestampFrequency));
    }
}
