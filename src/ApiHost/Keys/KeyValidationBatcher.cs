using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Diagnostics.Metrics;
using Inference.Grains.Abstractions.Keys;
using Inference.Grains.Keys;

namespace Inference.ApiHost.Keys;

/// <summary>
/// Coalesces validations of one key: at most one grain call per key is under way from this host, and the requests
/// that arrive meanwhile go together in the next call (<see cref="IApiKeyGrain.ValidateManyAsync"/>). A lone request
/// is sent at once, so light load pays nothing; under heavy load on a hot key the per-call cost (serialization, a hop
/// to the key's silo and back, a grain turn) is shared by the whole batch. The grain still decides every request in
/// order, so limits stay exact.
/// Where the key's activation lives in this process (<see cref="LocalApiKeys"/>: the embedded default, or an API host
/// that is a cluster member), the validation is decided against the activation directly and nothing is queued: no
/// grain call, no hand-over between threads.
/// The grain calls it makes are counted on the meter <see cref="MeterName"/> (how long validations take is ASP.NET
/// Core's own <c>http.server.request.duration</c> for the route <c>/api/validate-api-key</c>).
/// </summary>
public sealed class KeyValidationBatcher
{
    public const string MeterName = "Inference.KeyValidation";

    /// <summary>Bound on one call's batch; the rest wait for the next call.</summary>
    public const int MaxBatch = 256;

    /// <summary>Default bound on the grain references kept between calls (a few hundred bytes each); past it they
    /// are dropped and made again as needed, so keys sent once (or forged with a valid checksum) cannot grow it.</summary>
    public const int DefaultReferenceLimit = 10_000;

    private readonly IGrainFactory _grains;
    private readonly LocalApiKeys? _local;
    private readonly ConcurrentDictionary<string, KeyQueue> _queues = new(StringComparer.Ordinal);

    // Orleans resolves the grain interface by reflection on every GetGrain (a quarter of the handler's own CPU in a
    // profile); a key's queue lives only while calls are under way, so its reference is kept here.
    private readonly ConcurrentDictionary<string, IApiKeyGrain> _references = new(StringComparer.Ordinal);
    private readonly int _referenceLimit;
    private readonly RefusedKeys _refused;
    private long _grainCalls;

    /// <param name="local">The keys active in this process's own silo; null for an API host without a silo.</param>
    public KeyValidationBatcher(IGrainFactory grains, IMeterFactory meters, LocalApiKeys? local = null, int referenceLimit = DefaultReferenceLimit)
    {
        _grains = grains;
        _local = local;
        _referenceLimit = referenceLimit;
        _refused = new RefusedKeys(TimeProvider.System, referenceLimit);
        var meter = meters.Create(MeterName);
        meter.CreateObservableCounter("inference.key_validation.grain_calls", () => GrainCalls, "{call}",
            "Grain calls made for key validations (fewer than validations when concurrent ones for a key were batched)");
        meter.CreateObservableCounter("inference.key_validation.direct", () => DirectValidations, "{validation}",
            "Key validations decided against the key's activation in this process, without a grain call");
    }

    /// <summary>Keys with a call under way or requests waiting; idle keys hold no memory here.</summary>
    public int ActiveKeys => _queues.Count;

    /// <summary>Grain references kept for keys seen recently, at most the reference limit.</summary>
    public int ReferencesKept => _references.Count;

    /// <summary>Grain calls made so far; fewer than validations when requests were batched.</summary>
    public long GrainCalls => Interlocked.Read(ref _grainCalls);

    /// <summary>Validations decided against a key's activation in this process, without a grain call.</summary>
    public long DirectValidations => _local?.Decisions ?? 0;

    /// <summary>Decides the validation against the key's activation in this process, when it is here and takes it.</summary>
    public bool TryValidateHere(ReadOnlySpan<char> keyHash, long tokens, KeyTarget? target, [NotNullWhen(true)] out KeyCheck? check)
    {
        check = null;
        return _local is not null && _local.TryValidate(keyHash, tokens, target, out check);
    }

    public Task<KeyCheck> ValidateAsync(string keyHash, long tokens, KeyTarget? target = null)
    {
        if (TryValidateHere(keyHash, tokens, target, out var check))
        {
            return Task.FromResult(check);
        }
        if (_refused.TryGet(keyHash) is { } refused)
        {
            return Task.FromResult(refused);
        }
        while (true)
        {
            var queue = _queues.GetOrAdd(keyHash, static (hash, batcher) => new KeyQueue(batcher.Reference(hash)), this);
            if (queue.TryEnqueue(new KeyRequest(tokens, target), out var answer, out var startPump))
            {
                if (startPump)
                {
                    _ = PumpAsync(keyHash, queue);
                }
                return answer;
            }
            // That queue just went idle; take it out of the map (its pump is about to, and a second removal of the
            // same queue is a no-op) rather than spin until the pump gets to run, and make a fresh one.
            _queues.TryRemove(new KeyValuePair<string, KeyQueue>(keyHash, queue));
        }
    }

    private IApiKeyGrain Reference(string keyHash)
    {
        if (_references.TryGetValue(keyHash, out var grain))
        {
            return grain;
        }
        if (_references.Count >= _referenceLimit)
        {
            _references.Clear();
        }
        return _references.GetOrAdd(keyHash, _grains.GetGrain<IApiKeyGrain>(keyHash));
    }

    private async Task PumpAsync(string keyHash, KeyQueue queue)
    {
        while (queue.TakeBatch() is { } batch)
        {
            Interlocked.Increment(ref _grainCalls);
            try
            {
                if (batch.Count == 1)
                {
                    var check = await queue.Grain.ValidateAsync(batch[0].Request.Tokens, batch[0].Request.Target);
                    _refused.Remember(keyHash, check);
                    batch[0].Answer.TrySetResult(check);
                    continue;
                }
                var requests = new KeyRequest[batch.Count];
                for (var i = 0; i < requests.Length; i++)
                {
                    requests[i] = batch[i].Request;
                }
                var checks = await queue.Grain.ValidateManyAsync(requests);
                for (var i = 0; i < batch.Count; i++)
                {
                    _refused.Remember(keyHash, checks[i]);
                    batch[i].Answer.TrySetResult(checks[i]);
                }
            }
            catch (Exception e)
            {
                foreach (var waiting in batch)
                {
                    waiting.Answer.TrySetException(e);
                }
            }
        }
        _queues.TryRemove(new KeyValuePair<string, KeyQueue>(keyHash, queue));
    }

    private readonly record struct Waiting(KeyRequest Request, TaskCompletionSource<KeyCheck> Answer);

    private sealed class KeyQueue(IApiKeyGrain grain)
    {
        private readonly Lock _gate = new();
        private List<Waiting> _waiting = [];
        private bool _pumping;
        private bool _closed;

        public IApiKeyGrain Grain { get; } = grain;

        public bool TryEnqueue(KeyRequest request, out Task<KeyCheck> answer, out bool startPump)
        {
            // Continuations run off the pump, so one slow HTTP response cannot hold up the next batch.
            var waiting = new Waiting(request, new TaskCompletionSource<KeyCheck>(TaskCreationOptions.RunContinuationsAsynchronously));
            answer = waiting.Answer.Task;
            lock (_gate)
            {
                startPump = false;
                if (_closed)
                {
                    return false;
                }
                _waiting.Add(waiting);
                if (!_pumping)
                {
                    _pumping = startPump = true;
                }
                return true;
            }
        }

        /// <summary>The requests to send next, or null when there are none: the queue is then closed for good.</summary>
        public List<Waiting>? TakeBatch()
        {
            lock (_gate)
            {
                if (_waiting.Count == 0)
                {
                    _pumping = false;
                    _closed = true;
                    return null;
                }
                if (_waiting.Count <= MaxBatch)
                {
                    var batch = _waiting;
                    _waiting = [];
                    return batch;
                }
                var first = _waiting.GetRange(0, MaxBatch);
                _waiting.RemoveRange(0, MaxBatch);
                return first;
            }
        }
    }
}
