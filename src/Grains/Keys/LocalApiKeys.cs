using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using Inference.Grains.Abstractions.Keys;

namespace Inference.Grains.Keys;

/// <summary>The API keys whose activation lives in this silo, so that an API host co-hosting the silo (the embedded
/// default, or an API host that is a cluster member) decides their validations against the activation itself,
/// without a grain call. The activation stays the one place a key is decided: it takes the same lock for these
/// decisions as for its own methods, so limits stay exact across the cluster, and a revocation takes effect at once.
/// A key that is not here (its activation lives in another silo, or is forwarding during a rotation grace period, or
/// is being deactivated) is validated by a grain call as usual.</summary>
public sealed class LocalApiKeys
{
    private readonly ConcurrentDictionary<string, ApiKeyGrain> _keys;
    private readonly ConcurrentDictionary<string, ApiKeyGrain>.AlternateLookup<ReadOnlySpan<char>> _bySpan;
    private long _decisions;

    public LocalApiKeys()
    {
        _keys = new(StringComparer.Ordinal);
        // Looked up by a hash computed on the stack: a validation decided here allocates no string for it.
        _bySpan = _keys.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>Validations decided here so far, without a grain call.</summary>
    public long Decisions => Interlocked.Read(ref _decisions);

    /// <summary>Decides the validation when the key's activation is here and open to it; false: make the grain call.</summary>
    public bool TryValidate(ReadOnlySpan<char> keyHash, long tokens, KeyTarget? target, [NotNullWhen(true)] out KeyCheck? check)
    {
        if (_bySpan.TryGetValue(keyHash, out var key) && key.TryValidateHere(tokens, target, out check))
        {
            Interlocked.Increment(ref _decisions);
            return true;
        }
        check = null;
        return false;
    }

    internal void Add(string keyHash, ApiKeyGrain key) => _keys[keyHash] = key;

    internal void Remove(string keyHash, ApiKeyGrain key) => _keys.TryRemove(KeyValuePair.Create(keyHash, key));
}
