using System.Text.Json.Nodes;
using KubeEmulator.Api;
using KubeEmulator.Json;
using KubeEmulator.Resources;
using KubeEmulator.Validation;

namespace KubeEmulator.Store;

/// <summary>Which part of an object a write may change.</summary>
internal enum WriteScope
{
    /// <summary>Main resource: <c>.status</c> is kept from the stored object when a status subresource exists.</summary>
    Main,
    /// <summary>The <c>/status</c> subresource: only <c>.status</c> is taken from the request.</summary>
    Status,
    /// <summary>Controller writes: spec, metadata and status all apply (the emulator acting as a controller).</summary>
    All,
}

internal sealed record ListPage(IReadOnlyList<JsonObject> Items, long ResourceVersion, string? ContinueAfter);

/// <summary>
/// The etcd of the emulator: every object of every resource, one global resourceVersion counter, and the write
/// pipeline (defaults, validation, optimistic concurrency, generation, finalizers, garbage collection).
/// A single lock serialises writes, which gives the strict event order watches rely on. Stored objects are
/// immutable snapshots: readers get them without copying and writers replace them.
/// </summary>
internal sealed class ResourceStore(ResourceRegistry registry, WatchHub hub)
{
    private readonly object _gate = new();
    private readonly Dictionary<ResourceType, SortedDictionary<string, JsonObject>> _objects = new();
    private long _resourceVersion;

    public ResourceRegistry Registry => registry;

    public long ResourceVersion
    {
        get { lock (_gate) return _resourceVersion; }
    }

    public JsonObject? TryGet(ResourceType type, string? ns, string name)
    {
        lock (_gate) return Table(type).GetValueOrDefault(Key(ns, name));
    }

    public JsonObject Get(ResourceType type, string? ns, string name) =>
        TryGet(type, ns, name) ?? throw ApiException.NotFound(type, name);

    public ListPage List(ResourceType type, string? ns, Func<JsonObject, bool> filter, int limit = 0, string? continueAfter = null)
    {
        lock (_gate)
        {
            var items = new List<JsonObject>();
            string? lastKey = null;
            foreach (var (key, obj) in Table(type))
            {
                if (ns is not null && !key.StartsWith(ns + "/", StringComparison.Ordinal)) continue;
                if (continueAfter is not null && string.CompareOrdinal(key, continueAfter) <= 0) continue;
                if (!filter(obj)) continue;
                if (limit > 0 && items.Count == limit)
                    return new ListPage(items, _resourceVersion, lastKey);
                items.Add(obj);
                lastKey = key;
            }
            return new ListPage(items, _resourceVersion, null);
        }
    }

    public JsonObject Create(ResourceType type, string? ns, JsonObject obj, bool dryRun = false, bool keepStatus = false)
    {
        lock (_gate)
        {
            if (ns is not null && !Table(registry.Namespaces).ContainsKey(Key(null, ns)))
                throw ApiException.NamespaceNotFound(ns);

            var metadata = JsonTree.Obj(obj, "metadata");
            if (JsonTree.Str(metadata["name"]) is not { Length: > 0 } && JsonTree.Str(metadata["generateName"]) is { Length: > 0 } prefix)
                metadata["name"] = prefix + Names.RandomSuffix();
            if (ns is not null) metadata["namespace"] = ns;
            else metadata.Remove("namespace");
            if (type.HasStatus && !keepStatus) obj.Remove("status");
            foreach (var systemField in new[] { "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp", "selfLink" })
                metadata.Remove(systemField);

            BuiltInDefaults.ApplyOnCreate(type, obj, _resourceVersion + 1);
            ObjectValidator.Validate(type, obj);

            var name = JsonTree.Str(metadata["name"])!;
            if (Table(type).ContainsKey(Key(ns, name))) throw ApiException.AlreadyExists(type, name);

            metadata["uid"] = Guid.NewGuid().ToString();
            metadata["creationTimestamp"] = JsonTree.Now();
            metadata["generation"] = 1;
            if (dryRun) return obj;

            metadata["resourceVersion"] = (++_resourceVersion).ToString();
            Table(type)[Key(ns, name)] = obj;
            hub.Publish(new WatchEvent("ADDED", type, ns, obj, null, _resourceVersion));
            return obj;
        }
    }

    /// <summary>
    /// Replaces an object with what <paramref name="desired"/> computes from a private copy of the stored one.
    /// A resourceVersion in the result is a precondition; a missing one is an unconditional update unless
    /// <paramref name="requireResourceVersion"/> (custom resources reject unconditional PUTs).
    /// </summary>
    public JsonObject Update(ResourceType type, string? ns, string name, Func<JsonObject, JsonObject> desired,
        WriteScope scope, bool requireResourceVersion, bool dryRun = false)
    {
        lock (_gate)
        {
            var current = Table(type).GetValueOrDefault(Key(ns, name)) ?? throw ApiException.NotFound(type, name);
            var requested = desired((JsonObject)current.DeepClone());
            var currentRv = JsonTree.Str(current["metadata"]!["resourceVersion"]);
            var requestedRv = JsonTree.Str(requested["metadata"]?["resourceVersion"]);
            if (string.IsNullOrEmpty(requestedRv))
            {
                if (requireResourceVersion)
                    throw ApiException.Invalid(type, name,
                        [new FieldError("FieldValueInvalid", "metadata.resourceVersion", "Invalid value: 0x0: must be specified for an update")]);
            }
            else if (requestedRv != currentRv)
            {
                throw ApiException.Conflict(type, name);
            }

            var next = Merge(type, current, requested, scope);
            ObjectValidator.Validate(type, next);
            if (scope != WriteScope.Status && !JsonTree.DeepEquals(WithoutMetadataAndStatus(current), WithoutMetadataAndStatus(next)))
                next["metadata"]!["generation"] = (JsonTree.Long(current["metadata"]!["generation"]) ?? 1) + 1;

            // Like etcd3's GuaranteedUpdate, an update that changes nothing is not written and emits no event.
            if (JsonTree.DeepEquals(current, next) || dryRun) return next;
            return Commit(type, ns, name, current, next);
        }
    }

    /// <summary>Deletes an object: sets deletionTimestamp while finalizers remain, otherwise removes it and its dependents.</summary>
    public (JsonObject Object, bool Removed) Delete(ResourceType type, string? ns, string name, bool dryRun = false)
    {
        lock (_gate)
        {
            var current = Table(type).GetValueOrDefault(Key(ns, name)) ?? throw ApiException.NotFound(type, name);
            var finalizers = current["metadata"]!["finalizers"] as JsonArray;
            if (finalizers is { Count: > 0 })
            {
                if (current["metadata"]!["deletionTimestamp"] is not null || dryRun) return (current, false);
                var marked = (JsonObject)current.DeepClone();
                marked["metadata"]!["deletionTimestamp"] = JsonTree.Now();
                marked["metadata"]!["deletionGracePeriodSeconds"] = 0;
                return (Commit(type, ns, name, current, marked), false);
            }
            if (dryRun) return (current, true);
            return (Remove(type, ns, name, current), true);
        }
    }

    /// <summary>Every stored object, for persistence.</summary>
    public (IReadOnlyList<JsonObject> Objects, long ResourceVersion) Snapshot()
    {
        lock (_gate) return (_objects.Values.SelectMany(t => t.Values).ToList(), _resourceVersion);
    }

    /// <summary>Loads persisted objects as they were, keeping their resourceVersions; emits no events.</summary>
    public void Restore(IEnumerable<(ResourceType Type, JsonObject Object)> objects, long resourceVersion)
    {
        lock (_gate)
        {
            foreach (var (type, obj) in objects)
            {
                var ns = type.Namespaced ? JsonTree.Str(obj["metadata"]?["namespace"]) : null;
                Table(type)[Key(ns, JsonTree.Str(obj["metadata"]?["name"])!)] = obj;
            }
            _resourceVersion = Math.Max(_resourceVersion, resourceVersion);
            hub.CompactTo(_resourceVersion);
        }
    }

    /// <summary>
    /// Opens a watch atomically with respect to writes. From "0"/unset: synthetic ADDED for current objects; from a
    /// resourceVersion: the retained history after it, or 410 Expired when that history was compacted.
    /// </summary>
    public WatchSubscription OpenWatch(ResourceType type, string? ns, string? resourceVersion)
    {
        lock (_gate)
        {
            List<WatchEvent> initial;
            if (string.IsNullOrEmpty(resourceVersion) || resourceVersion == "0")
            {
                initial = Table(type)
                    .Where(p => ns is null || p.Key.StartsWith(ns + "/", StringComparison.Ordinal))
                    .Select(p => new WatchEvent("ADDED", type, ns is null && type.Namespaced ? JsonTree.Str(p.Value["metadata"]?["namespace"]) : ns,
                        p.Value, null, long.Parse(JsonTree.Str(p.Value["metadata"]!["resourceVersion"])!)))
                    .ToList();
            }
            else
            {
                if (!long.TryParse(resourceVersion, out var from) || from < 0)
                    throw ApiException.BadRequest($"resourceVersion: Invalid value: \"{resourceVersion}\": must be a valid resource version");
                if (from < hub.CompactedResourceVersion)
                    throw ApiException.Expired(from, hub.CompactedResourceVersion);
                initial = hub.After(from).Where(e => e.Resource == type && (ns is null || e.Namespace == ns)).ToList();
            }
            var subscription = new WatchSubscription(type, ns, initial, _resourceVersion);
            hub.Add(subscription);
            return subscription;
        }
    }

    /// <summary>What an etcd compaction does to watchers: the history is gone, every open watch ends with an ERROR
    /// event (410 Expired) and a resume from any version up to now gets the same. Returns the compacted version.</summary>
    public long Compact()
    {
        lock (_gate)
        {
            hub.Compact(_resourceVersion);
            return _resourceVersion;
        }
    }

    public long CompactedResourceVersion
    {
        get { lock (_gate) return hub.CompactedResourceVersion; }
    }

    public void CloseWatch(WatchSubscription subscription)
    {
        lock (_gate) hub.Remove(subscription);
    }

    private JsonObject Commit(ResourceType type, string? ns, string name, JsonObject current, JsonObject next)
    {
        next["metadata"]!["resourceVersion"] = (++_resourceVersion).ToString();
        var metadata = next["metadata"]!;
        if (metadata["deletionTimestamp"] is not null && metadata["finalizers"] is not JsonArray { Count: > 0 })
        {
            Table(type)[Key(ns, name)] = next;
            return Remove(type, ns, name, next);
        }
        Table(type)[Key(ns, name)] = next;
        hub.Publish(new WatchEvent("MODIFIED", type, ns, next, current, _resourceVersion));
        return next;
    }

    private JsonObject Remove(ResourceType type, string? ns, string name, JsonObject current)
    {
        Table(type).Remove(Key(ns, name));
        var gone = (JsonObject)current.DeepClone();
        gone["metadata"]!["resourceVersion"] = (++_resourceVersion).ToString();
        hub.Publish(new WatchEvent("DELETED", type, ns, gone, null, _resourceVersion));
        CollectGarbage(type, gone);
        return gone;
    }

    /// <summary>
    /// Background cascading deletion: dependents (by ownerReferences uid) go with their owner, and a namespace
    /// takes its contents along (the namespace controller's job in a real cluster).
    /// </summary>
    private void CollectGarbage(ResourceType ownerType, JsonObject owner)
    {
        var uid = JsonTree.Str(owner["metadata"]!["uid"]);
        var ownerName = JsonTree.Str(owner["metadata"]!["name"])!;
        var dependents = new List<(ResourceType Type, string? Ns, string Name)>();
        foreach (var (type, table) in _objects)
        {
            foreach (var obj in table.Values)
            {
                var ns = JsonTree.Str(obj["metadata"]?["namespace"]);
                var ownedByNamespace = ownerType == registry.Namespaces && type.Namespaced && ns == ownerName;
                var ownedByRef = obj["metadata"]?["ownerReferences"] is JsonArray refs && refs.Any(r => JsonTree.Str(r?["uid"]) == uid);
                if (ownedByNamespace || ownedByRef)
                    dependents.Add((type, type.Namespaced ? ns : null, JsonTree.Str(obj["metadata"]!["name"])!));
            }
        }
        foreach (var (type, ns, name) in dependents)
        {
            if (Table(type).GetValueOrDefault(Key(ns, name)) is not { } dependent) continue;
            if (dependent["metadata"]!["finalizers"] is JsonArray { Count: > 0 })
            {
                if (dependent["metadata"]!["deletionTimestamp"] is null)
                {
                    var marked = (JsonObject)dependent.DeepClone();
                    marked["metadata"]!["deletionTimestamp"] = JsonTree.Now();
                    Commit(type, ns, name, dependent, marked);
                }
            }
            else
            {
                Remove(type, ns, name, dependent);
            }
        }
    }

    private static JsonObject Merge(ResourceType type, JsonObject current, JsonObject requested, WriteScope scope)
    {
        JsonObject next;
        if (scope == WriteScope.Status)
        {
            next = (JsonObject)current.DeepClone();
            next.Remove("status");
            if (requested["status"] is { } status) next["status"] = status.DeepClone();
            return next;
        }

        next = (JsonObject)requested.DeepClone();
        next["apiVersion"] = current["apiVersion"]?.DeepClone();
        next["kind"] = current["kind"]?.DeepClone();
        var meta = JsonTree.Obj(next, "metadata");
        var currentMeta = current["metadata"]!;
        // Identity and system fields cannot be changed by clients.
        foreach (var field in new[] { "name", "namespace", "uid", "creationTimestamp", "generation", "deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion" })
        {
            if (currentMeta[field] is { } value) meta[field] = value.DeepClone();
            else meta.Remove(field);
        }
        if (scope == WriteScope.Main && type.HasStatus)
        {
            next.Remove("status");
            if (current["status"] is { } status) next["status"] = status.DeepClone();
        }
        return next;
    }

    private static JsonObject WithoutMetadataAndStatus(JsonObject obj)
    {
        var copy = new JsonObject();
        foreach (var (key, value) in obj)
            if (key is not ("metadata" or "status" or "apiVersion" or "kind")) copy[key] = value?.DeepClone();
        return copy;
    }

    private SortedDictionary<string, JsonObject> Table(ResourceType type)
    {
        if (!_objects.TryGetValue(type, out var table))
            _objects[type] = table = new SortedDictionary<string, JsonObject>(StringComparer.Ordinal);
        return table;
    }

    private static string Key(string? ns, string name) => ns is null ? name : $"{ns}/{name}";
}
