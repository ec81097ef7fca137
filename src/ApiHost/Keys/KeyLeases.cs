using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Inference.Grains.Abstractions.Keys;
using Inference.Shared.Keys;

namespace Inference.ApiHost.Keys;

/// <summary>
/// Decides key validations on this API host from leases the keys' grains grant (<see cref="IApiKeyGrain.LeaseAsync"/>),
/// the same way in every mode (embedded, member, client). A lease holds the key's record and a number of admissions
/// the grain has already counted: a validation checks the record and takes one admission with an interlocked
/// decrement, with no grain call. When a lease runs low the next one is asked for in the background, one call per key
/// at a time; requests that find none left wait for that call. Far from every limit a lease covers about the next
/// <see cref="LeaseHorizon"/> of this host's traffic; near a limit grants shrink to one, so each validation is a grain
/// call, exact to the request. What a lease did not spend goes back with the next request (or when it lapses, or when
/// the host stops) and is refunded; what it spent is the key's usage.
/// The grain tells this host to drop a key's lease (<see cref="IKeyLeaseHolder"/>) before it acknowledges a
/// revocation or a change of the key, so no admission follows such a change.
/// A key at its limit is refused on this host with no grain call while the grain says nothing but a change of the key
/// can reopen it (<see cref="KeyLease.LimitedFor"/>): a client hammering an exhausted key costs a grain call per such
/// period, not per request. Those 429s go to the key's usage with the next report, and the memo ends at once when
/// the grain drops this host's hold on the key.
/// </summary>
public sealed class KeyLeases : IKeyLeaseHolder, IHostedService
{
    public const string MeterName = "Inference.KeyValidation";

    /// <summary>How much of this host's traffic on a key one lease is sized for.</summary>
    public static readonly TimeSpan LeaseHorizon = TimeSpan.FromMilliseconds(100);

    /// <summary>Leases are asked for again when less than this share of the grant is left.</summary>
    private const double LowWater = 0.25;

    /// <summary>Bound on the keys held; past it, idle ones are dropped first by the sweep, and new keys still work.</summary>
    private const int KeyLimit = 100_000;

    /// <summary>Renewals one request waits through before the grain decides it alone.</summary>
    private const int MaxAttempts = 32;

    private static readonly TimeSpan SweepPeriod = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan IdleAfter = TimeSpan.FromSeconds(10);

    private readonly IGrainFactory _grains;
    private readonly TimeProvider _time;
    private readonly ILogger<KeyLeases> _logger;
    private readonly string _host = Guid.NewGuid().ToString("N");
    private readonly ConcurrentDictionary<string, KeyEntry> _keys = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, KeyEntry>.AlternateLookup<ReadOnlySpan<char>> _bySpan;
    private readonly RefusedKeys _refused;
    private IKeyLeaseHolder? _self;
    private ITimer? _sweep;
    private int _sweeping;
    private long _leaseCalls;
    private long _local;
    private long _limitedLocally;

    public KeyLeases(IGrainFactory grains, IMeterFactory meters, TimeProvider time, ILogger<KeyLeases> logger)
    {
        _grains = grains;
        _time = time;
        _logger = logger;
        _bySpan = _keys.GetAlternateLookup<ReadOnlySpan<char>>();
        _refused = new RefusedKeys(time, KeyLimit);
        var meter = meters.Create(MeterName);
        meter.CreateObservableCounter("inference.key_validation.grain_calls", () => GrainCalls, "{call}",
            "Grain calls made for key validations: leases asked for, and validations of keys that cannot be leased");
        meter.CreateObservableGauge("inference.key_validation.leases", () => _keys.Count, "{key}", "Keys this host holds a lease for");
    }

    /// <summary>Grain calls made for validations so far (lease requests and direct validations).</summary>
    public long GrainCalls => Interlocked.Read(ref _leaseCalls);

    /// <summary>Validations decided from a lease, without a grain call.</summary>
    public long LocalDecisions => Interlocked.Read(ref _local);

    /// <summary>Validations refused for a limit from the key's memo, without a grain call.</summary>
    public long LimitedLocally => Interlocked.Read(ref _limitedLocally);

    /// <summary>Keys this host holds (or is getting) a lease for; with <paramref name="keyHash"/>, 1 if it holds that one.</summary>
    public int KeysHeld(string? keyHash = null) => keyHash is null ? _keys.Count : _keys.ContainsKey(keyHash) ? 1 : 0;

    /// <summary>Decides from the key's lease on this host, when there is one with admissions left, or from its limit
    /// memo while that holds: no grain call, no allocation but the answer. A key held here was issued (only an issued
    /// key gets a lease or a memo).</summary>
    public bool TryDecideHeld(ReadOnlySpan<char> keyHash, long tokens, KeyTarget? target, out KeyCheck check, out ValidationMetrics.DecidedBy by)
    {
        check = null!;
        by = ValidationMetrics.DecidedBy.Lease;
        if (!_bySpan.TryGetValue(keyHash, out var entry))
        {
            return false;
        }
        if (entry.Current is { } lease && TryDecide(entry, lease, tokens, target, out check))
        {
            return true;
        }
        by = ValidationMetrics.DecidedBy.Memo;
        return entry.Memo is { } memo && TryRefuse(entry, memo, target, out check);
    }

    /// <summary>A dead key this host refused a moment ago: refused again from memory, no grain call.</summary>
    public bool TryRemembered(string keyHash, out KeyCheck check)
    {
        check = _refused.TryGet(keyHash)!;
        return check is not null;
    }

    /// <summary>Decides from a lease, asking the key's grain for one when there is none here or it is spent.</summary>
    public async Task<KeyCheck> ValidateAsync(string keyHash, long tokens, KeyTarget? target = null)
    {
        if (_refused.TryGet(keyHash) is { } refused)
        {
            return refused;
        }
        var entry = Entry(keyHash);
        // Each renewal is shared by every request waiting for it; near a limit grants shrink, so a request may need a
        // few. One whose tokens do not fit what a lease holds, or that keeps missing out, is decided by the grain itself.
        for (var attempt = 0; attempt < MaxAttempts; attempt++)
        {
            if (entry.Dropped)
            {
                // The key changed while this request waited: go on with what this host holds of it now.
                entry = Entry(keyHash);
            }
            if (entry.Memo is { } memo && TryRefuse(entry, memo, target, out var remembered))
            {
                return remembered;
            }
            if (entry.Current is { } current)
            {
                if (TryDecide(entry, current, tokens, target, out var check))
                {
                    return check;
                }
                if (tokens > 0 && current.HasTokenBudget && attempt > 0)
                {
                    break;
                }
            }
            var answer = await RenewAsync(entry, tokens, waiting: true);
            if (answer is null)
            {
                break;
            }
            if (answer.Refusal is { } refusal)
            {
                if (refusal.Outcome is KeyOutcome.Limited && answer.Record is { } record && !Admits(record, target))
                {
                    return Forbidden(record);
                }
                if (refusal.Outcome is not KeyOutcome.Limited)
                {
                    // A dead key: answered from memory for a while, and nothing is kept for it here.
                    _refused.Remember(keyHash, refusal);
                    _keys.TryRemove(KeyValuePair.Create(keyHash, entry));
                }
                return refusal;
            }
        }
        // The grain decides this one alone: what this host holds of the key goes back first, so that reserved but
        // unspent admissions and tokens do not stand in the way of an exact decision.
        LeaseReport[] held;
        lock (entry)
        {
            entry.Retire();
            held = [.. entry.Unreported.Where(r => !r.IsEmpty)];
            entry.Unreported.Clear();
        }
        foreach (var report in held)
        {
            Interlocked.Increment(ref _leaseCalls);
            await entry.Grain.ReturnAsync(_host, report);
        }
        Interlocked.Increment(ref _leaseCalls);
        return await entry.Grain.ValidateAsync(tokens, target);
    }

    private KeyEntry Entry(string keyHash) =>
        _keys.GetOrAdd(keyHash, static (hash, leases) => new KeyEntry(leases._grains.GetGrain<IApiKeyGrain>(hash), leases._time.GetTimestamp()), this);

    /// <summary>Decides against <paramref name="lease"/>: false when it is spent or lapsed (ask for the next).</summary>
    private bool TryDecide(KeyEntry entry, Lease lease, long tokens, KeyTarget? target, out KeyCheck check)
    {
        check = null!;
        var now = _time.GetTimestamp();
        if (now >= lease.Deadline)
        {
            return false;
        }
        var record = lease.Record;
        if (RecordRefuses(record, target, out check))
        {
            return true;
        }
        if (!lease.TrySpend(tokens, out var left))
        {
            return false;
        }
        Interlocked.Increment(ref _local);
        entry.LastUsed = now;
        if (left < lease.Granted * LowWater && entry.Renewing is null)
        {
            _ = RenewAsync(entry, 0, waiting: false);
        }
        var elapsed = (int)_time.GetElapsedTime(lease.ReceivedAt, now).TotalSeconds;
        check = new KeyCheck(KeyOutcome.Valid, record.Tenant, record.Model, record.Limit, lease.Remaining + Math.Max(0, left),
            Math.Max(0, lease.ResetSeconds - elapsed), 0, record.HourLimit, null);
        return true;
    }

    /// <summary>What the key's record refuses on its own, before any limit: an expired key, another publication's route.</summary>
    private bool RecordRefuses(KeyRecord record, KeyTarget? target, out KeyCheck check)
    {
        if (record.ExpiresAt is { } expires && expires <= _time.GetUtcNow())
        {
            check = new KeyCheck(KeyOutcome.Expired, null, null, record.Limit, 0, 0, 0, record.HourLimit, null);
            return true;
        }
        if (!Admits(record, target))
        {
            check = Forbidden(record);
            return true;
        }
        check = null!;
        return false;
    }

    /// <summary>Refuses from <paramref name="memo"/> as its grain would, the record's own refusals first (expired,
    /// another route): false once it has ended (ask the grain).</summary>
    private bool TryRefuse(KeyEntry entry, LimitMemo memo, KeyTarget? target, out KeyCheck check)
    {
        check = null!;
        var now = _time.GetTimestamp();
        if (now >= memo.Deadline)
        {
            return false;
        }
        var record = memo.Record;
        if (RecordRefuses(record, target, out check))
        {
            return true;
        }
        if (!memo.TryCount())
        {
            return false;
        }
        Interlocked.Increment(ref _limitedLocally);
        entry.LastUsed = now;
        // The refusal's times run from the grain's decision, which came before this host received it.
        var elapsed = _time.GetElapsedTime(memo.ReceivedAt, now).TotalSeconds;
        var refusal = memo.Refusal;
        check = refusal with
        {
            RetryAfterSeconds = Math.Max(1, (int)Math.Ceiling(refusal.RetryAfterSeconds - elapsed)),
            ResetSeconds = Math.Max(0, refusal.ResetSeconds - (int)elapsed),
        };
        return true;
    }

    private static bool Admits(KeyRecord record, KeyTarget? target) =>
        (target is null && !(record.Scope?.AllowedTenants.Count > 0))
        || KeyScopes.Admits(record.Tenant, record.Model, record.Scope, target ?? new KeyTarget(null, null, null, null, null, null));

    private static KeyCheck Forbidden(KeyRecord record) => new(KeyOutcome.Forbidden, null, null, record.Limit, 0, 0, 0, record.HourLimit, null);

    /// <summary>The next lease for the key, one request per key at a time: callers that come while one is under way
    /// share its answer. Null when the key cannot be leased (a rotated key forwarding to its successor).</summary>
    private Task<KeyLease?> RenewAsync(KeyEntry entry, long tokens, bool waiting)
    {
        lock (entry)
        {
            if (waiting)
            {
                entry.Waiting++;
                entry.WaitingTokens = Saturating.Add(entry.WaitingTokens, tokens);
            }
            return entry.Renewing ??= RenewNowAsync(entry);
        }
    }

    private async Task<KeyLease?> RenewNowAsync(KeyEntry entry)
    {
        await Task.Yield(); // the caller's request goes on; the renewal runs on its own
        int wanted;
        int waiting;
        long wantedTokens;
        LeaseReport previous;
        lock (entry)
        {
            // Sized from this host's rate on the key while the current lease lasted, plus the requests waiting now.
            var old = entry.Current;
            var seconds = old is null ? 1 : Math.Max(0.001, _time.GetElapsedTime(old.ReceivedAt).TotalSeconds);
            var horizon = LeaseHorizon.TotalSeconds / seconds;
            wanted = (int)Math.Clamp(Math.Ceiling((old?.Spent ?? 0) * horizon) + entry.Waiting, 1, int.MaxValue / 2);
            wantedTokens = Saturating.Add((long)Math.Ceiling((old?.TokensSpent ?? 0) * horizon), entry.WaitingTokens);
            // The 429s a memo answered go with this request, which replaces it.
            entry.EndMemo();
            previous = entry.TakeUnreported();
            waiting = entry.Waiting;
            entry.Waiting = 0;
            entry.WaitingTokens = 0;
        }
        var sent = _time.GetTimestamp();
        try
        {
            Interlocked.Increment(ref _leaseCalls);
            var answer = await entry.Grain.LeaseAsync(new LeaseRequest(_host, Self(), wanted, wantedTokens, previous, waiting));
            lock (entry)
            {
                // Requests that joined this renewal after it was sent share its answer: a refusal is their 429 too, which
                // the grain could not count, so it goes with the next report.
                if (TakeLate(entry) is > 0 and var late && answer.Refusal?.Outcome == KeyOutcome.Limited)
                {
                    entry.AddLimited(late);
                }
                // The old lease is closed here, not earlier: requests kept spending it while this call was under way.
                entry.Retire();
                // A lease granted before the grain asked this host to drop the key's leases, but answered after: the
                // key has changed since, so it is not used (its admissions stay counted, as lost capacity).
                if (answer is { Leasable: true, Record: { } record, Granted: > 0 } && !entry.Dropped)
                {
                    entry.Current = new Lease(record, answer, sent, sent + (long)(answer.Period.TotalSeconds * _time.TimestampFrequency));
                }
                else if (answer is { Record: { } limitedRecord, Refusal: { Outcome: KeyOutcome.Limited } refusal } && answer.LimitedFor > TimeSpan.Zero
                    && !entry.Dropped)
                {
                    // Counted from when the request was sent, as a lease is: it ends no later than the grain's own time.
                    entry.EndMemo();
                    entry.Memo = new LimitMemo(limitedRecord, refusal, _time.GetTimestamp(),
                        sent + (long)(answer.LimitedFor.TotalSeconds * _time.TimestampFrequency));
                }
                entry.Renewing = null;
            }
            return answer.Leasable ? answer : null;
        }
        catch
        {
            lock (entry)
            {
                TakeLate(entry);
                entry.Unreported.Add(previous); // sent again with the next request
                entry.Renewing = null;
            }
            throw;
        }
    }

    /// <summary>The requests that joined the renewal under way after it was sent: they are answered by it, so they are
    /// not waiting for the next one.</summary>
    private static int TakeLate(KeyEntry entry)
    {
        var late = entry.Waiting;
        entry.Waiting = 0;
        entry.WaitingTokens = 0;
        return late;
    }

    private IKeyLeaseHolder Self() => _self ??= _grains.CreateObjectReference<IKeyLeaseHolder>(this);

    /// <summary>The key's grain is about to change the key: close its lease here and say what was spent.</summary>
    public Task<LeaseReport[]> DropAsync(string keyHash)
    {
        if (!_keys.TryRemove(keyHash, out var entry))
        {
            return Task.FromResult(Array.Empty<LeaseReport>());
        }
        lock (entry)
        {
            entry.Dropped = true;
            entry.Retire();
            entry.EndMemo();
            var reports = entry.Unreported.Where(r => !r.IsEmpty).ToArray();
            entry.Unreported.Clear();
            return Task.FromResult(reports);
        }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _sweep = _time.CreateTimer(_ =>
        {
            if (Interlocked.Exchange(ref _sweeping, 1) == 0)
            {
                _ = SweepAsync(stopping: false).ContinueWith(_ => Volatile.Write(ref _sweeping, 0), TaskScheduler.Default);
            }
        }, null, SweepPeriod, SweepPeriod);
        return Task.CompletedTask;
    }

    /// <summary>A final report for every key, so what this host spent is counted and what it holds is given back.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_sweep is not null)
        {
            await _sweep.DisposeAsync();
        }
        await SweepAsync(stopping: true).WaitAsync(TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    /// <summary>Lapsed leases are closed and reported (usage counted, the rest refunded); keys idle for a while are
    /// dropped, so this host's memory follows the keys in use.</summary>
    private async Task SweepAsync(bool stopping)
    {
        var now = _time.GetTimestamp();
        var reports = new List<(KeyEntry Entry, LeaseReport Report)>();
        foreach (var (hash, entry) in _keys)
        {
            lock (entry)
            {
                if (entry.Renewing is not null && !stopping)
                {
                    continue;
                }
                var lapsed = entry.Current is { } lease && now >= lease.Deadline;
                var idle = _time.GetElapsedTime(entry.LastUsed, now) > IdleAfter || _keys.Count > KeyLimit;
                if (stopping || lapsed || idle)
                {
                    entry.Retire();
                }
                if (stopping || idle || entry.Memo is { } memo && now >= memo.Deadline)
                {
                    entry.EndMemo();
                }
                reports.AddRange(entry.Unreported.Where(r => !r.IsEmpty).Select(r => (entry, r)));
                entry.Unreported.Clear();
                if ((stopping || idle) && entry.Current is null && entry.Memo is null)
                {
                    _keys.TryRemove(KeyValuePair.Create(hash, entry));
                }
            }
        }
        foreach (var (entry, report) in reports)
        {
            try
            {
                await entry.Grain.ReturnAsync(_host, report);
            }
            catch (Exception e) when (!stopping)
            {
                _logger.LogDebug(e, "Returning a lease failed; its use will be reported with the next one");
                lock (entry)
                {
                    entry.Unreported.Add(report);
                }
            }
        }
    }

    /// <summary>One key on this host: its lease, the renewal under way, reports not yet sent. Fields other than
    /// <see cref="Current"/> and <see cref="LastUsed"/> are changed under the entry's lock.</summary>
    private sealed class KeyEntry(IApiKeyGrain grain, long created)
    {
        public readonly IApiKeyGrain Grain = grain;
        public volatile Lease? Current;
        public volatile LimitMemo? Memo;
        public long LastUsed = created;
        public Task<KeyLease?>? Renewing;
        public int Waiting;
        public long WaitingTokens;
        public bool Dropped;
        public readonly List<LeaseReport> Unreported = [];

        /// <summary>Closes the current lease; its report waits to go with the next request.</summary>
        public void Retire()
        {
            if (Current is { } lease)
            {
                Current = null;
                Unreported.Add(lease.Close());
            }
        }

        /// <summary>Closes the limit memo; the 429s it answered wait to go with the next request.</summary>
        public void EndMemo()
        {
            if (Memo is { } memo)
            {
                Memo = null;
                if (memo.Close() is > 0 and var refused)
                {
                    AddLimited(refused);
                }
            }
        }

        /// <summary>Counts 429s in the newest report not yet sent, or in one of their own.</summary>
        public void AddLimited(int requests)
        {
            if (Unreported.Count == 0)
            {
                Unreported.Add(new LeaseReport(0, 0, 0, 0, 0, requests));
            }
            else
            {
                Unreported[^1] = Unreported[^1] with { Limited = (int)Math.Min(int.MaxValue, (long)Unreported[^1].Limited + requests) };
            }
        }

        /// <summary>The report to send with the next request (the newest; older ones go by themselves).</summary>
        public LeaseReport TakeUnreported()
        {
            if (Unreported.Count == 0)
            {
                return default;
            }
            var last = Unreported[^1];
            Unreported.RemoveAt(Unreported.Count - 1);
            return last;
        }
    }

    /// <summary>A refusal for a limit that holds until <see cref="Deadline"/>, whatever other hosts do: requests are
    /// refused from it, counted with an interlocked increment.</summary>
    private sealed class LimitMemo(KeyRecord record, KeyCheck refusal, long receivedAt, long deadline)
    {
        private const int Closed = int.MinValue / 2;
        private int _refused;

        public KeyRecord Record { get; } = record;
        public KeyCheck Refusal { get; } = refusal;
        public long ReceivedAt { get; } = receivedAt;
        public long Deadline { get; } = deadline;

        /// <summary>Counts one refusal; false once the memo is closed (a refusal racing the close is not counted here).</summary>
        public bool TryCount() => Interlocked.Increment(ref _refused) > 0;

        /// <summary>Stops the memo and says how many requests it refused.</summary>
        public int Close() => Math.Max(0, Interlocked.Exchange(ref _refused, Closed));
    }

    /// <summary>A grant being spent: admissions and tokens left, taken with interlocked operations.</summary>
    private sealed class Lease(KeyRecord record, KeyLease grant, long receivedAt, long deadline)
    {
        private const int Closed = int.MinValue / 2;
        private int _left = grant.Granted;
        private long _tokensLeft = grant.TokenBudget;
        private long _tokensSpent;

        public KeyRecord Record { get; } = record;
        public int Granted { get; } = grant.Granted;
        public long GrantedAt { get; } = grant.GrantedAt;
        public int Remaining { get; } = grant.Remaining;
        public int ResetSeconds { get; } = grant.ResetSeconds;
        public long ReceivedAt { get; } = receivedAt;
        public long Deadline { get; } = deadline;

        public int Spent => Granted - Math.Max(0, Volatile.Read(ref _left));

        public long TokensSpent => grant.TokenBudget >= 0 ? grant.TokenBudget - Math.Max(0, Interlocked.Read(ref _tokensLeft)) : Interlocked.Read(ref _tokensSpent);

        public bool HasTokenBudget => grant.TokenBudget >= 0;

        public bool TrySpend(long tokens, out int left)
        {
            left = Interlocked.Decrement(ref _left);
            if (left < 0)
            {
                return false;
            }
            if (grant.TokenBudget >= 0)
            {
                if (Interlocked.Add(ref _tokensLeft, -tokens) < 0)
                {
                    Interlocked.Add(ref _tokensLeft, tokens);
                    Interlocked.Increment(ref _left);
                    return false;
                }
            }
            else if (tokens > 0)
            {
                Interlocked.Add(ref _tokensSpent, tokens);
            }
            return true;
        }

        /// <summary>Stops the lease: a spend racing this sees it empty.</summary>
        public LeaseReport Close()
        {
            var unspent = Math.Max(0, Interlocked.Exchange(ref _left, Closed));
            if (grant.TokenBudget >= 0)
            {
                var tokensUnspent = Math.Max(0, Interlocked.Exchange(ref _tokensLeft, long.MinValue / 2));
                return new LeaseReport(GrantedAt, Granted - unspent, unspent, grant.TokenBudget - tokensUnspent, tokensUnspent);
            }
            return new LeaseReport(GrantedAt, Granted - unspent, unspent, Interlocked.Read(ref _tokensSpent), 0);
        }
    }
}
