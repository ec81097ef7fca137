using Inference.Grains.Abstractions.Events;
using Inference.Grains.Events;
using Inference.Grains.Abstractions.Keys;
using Inference.Grains.Abstractions.Publishing;
using Microsoft.Extensions.Logging;
using Orleans.Storage;
using Inference.Shared.Keys;

namespace Inference.Grains.Keys;

public enum KeyStatus
{
    None,
    Active,
    Revoked,

    /// <summary>Rotated with a grace period: answers through its successor until <see cref="ApiKeyState.GraceUntil"/>.</summary>
    Forwarding,
}

[GenerateSerializer, Alias("inference.ApiKeyState")]
public sealed class ApiKeyState
{
    [Id(0)] public KeyStatus Status { get; set; }
    [Id(1)] public string Tenant { get; set; } = "";
    [Id(2)] public string Model { get; set; } = "";
    [Id(3)] public RateLimits Limits { get; set; } = new(1, 1, 0, 1);
    [Id(4)] public DateTimeOffset? ExpiresAt { get; set; }
    [Id(5)] public string? Successor { get; set; }
    [Id(6)] public DateTimeOffset? GraceUntil { get; set; }
    [Id(7)] public UsageCounters Usage { get; set; } = UsageCounters.Zero;
    [Id(8)] public long HourStart { get; set; }
    [Id(9)] public int HourCount { get; set; }
    [Id(10)] public long HourTokens { get; set; }
    [Id(11)] public KeyScope? Scope { get; set; }

    /// <summary>Usage by minute and by hour (the buckets holding anything of <see cref="UsageRing"/>s), written
    /// behind with the counters.</summary>
    [Id(12)] public UsageBucket[]? MinuteBuckets { get; set; }
    [Id(13)] public UsageBucket[]? HourBuckets { get; set; }

    /// <summary>The per-minute window as it stood at the last write: the starts (UTC ticks) of the seconds holding
    /// admissions and how many each holds, written behind with the counters, so a new activation (a restart, a
    /// deactivation, a silo's crash) does not start with an empty window and admit a second minute's worth.</summary>
    [Id(14)] public long[]? WindowSeconds { get; set; }

    [Id(15)] public int[]? WindowCounts { get; set; }

    [Id(16)] public double BurstTokens { get; set; }

    [Id(17)] public long BurstAt { get; set; }

    /// <summary>What the activation that wrote this may grant after the write before it writes again: admissions, and
    /// tokens where the key has a token limit. A new activation counts them as admitted (<see cref="GrantReservation"/>).</summary>
    [Id(18)] public int ReservedRequests { get; set; }

    [Id(19)] public long ReservedTokens { get; set; }
}

/// <summary>One API key, the one place its limits and counters live. API hosts decide validations on their own from a
/// lease this grain grants (<see cref="LeaseAsync"/>): the record and a number of admissions, counted here as admitted
/// when granted, so no limit is ever exceeded. A change of the record (revocation, rotation, limits, route) is
/// acknowledged only after every host holding a lease has dropped it, or its lease has run out.
/// The record is written before any change is acknowledged; usage counters and the windows are written behind every
/// <see cref="FlushPeriod"/> and on deactivation, so validation waits for storage only when a reservation of grants runs
/// out (<see cref="GrantReservation"/>: every write reserves what may be granted until the next, and a new activation
/// counts it as admitted, so a crash of the key's silo exceeds no limit). A silo crash loses at most that period of
/// usage counting.</summary>
public sealed class ApiKeyGrain(
    [PersistentState("apikey", StorageNames.State)] IPersistentState<ApiKeyState> state,
    TimeProvider time,
    Telemetry.ServiceMetrics metrics,
    ILogger<ApiKeyGrain> logger) : Grain, IApiKeyGrain
{
    public static readonly TimeSpan FlushPeriod = TimeSpan.FromSeconds(5);

    /// <summary>How long a lease lasts: the bound on how early an admission is counted, and on how long a host that
    /// does not answer delays a revocation.</summary>
    public static readonly TimeSpan LeasePeriod = TimeSpan.FromSeconds(1);

    /// <summary>The most of any limit's headroom one lease takes, so that several hosts share what is left and grants
    /// shrink to one request each near a limit.</summary>
    public const double LeaseShare = 0.25;

    /// <summary>How long a grant waits for a write that reserves it (storage slow or away), and how long after a failed
    /// write the next is tried.</summary>
    private static readonly TimeSpan ReserveWait = LeasePeriod;

    /// <summary>The longest a host answers a refusal for a limit on its own (<see cref="KeyLease.LimitedFor"/>). This
    /// activation tells such hosts of a change of the key, but after a silo's crash the next one does not know them: a
    /// raised limit or a revocation may then go unseen there for this long (the host refuses meanwhile, so nothing is
    /// admitted that should not be).</summary>
    public static readonly TimeSpan MemoLimit = TimeSpan.FromSeconds(10);

    /// <summary>How long a host is given to drop a lease before the change waits out the lease instead.</summary>
    private static readonly TimeSpan DropTimeout = LeasePeriod / 4;

    private static readonly KeyTarget NoTarget = new(null, null, null, null, null, null);

    private readonly Dictionary<(string Host, long GrantedAt), Holder> _holders = [];
    private readonly Dictionary<string, Memo> _memos = [];
    private KeyLimiter? _limiter;
    private KeyRecord? _record;
    private long _totalRequests;
    private long _requestsToday;
    private DateOnly _today;
    private long _tokensUsed;
    private DateTimeOffset? _lastAccess;
    private UsageRing _minutes = UsageRing.ByMinute();
    private UsageRing _hours = UsageRing.ByHour();
    private bool _dirty;
    private IGrainTimer? _timer;
    private Task _flushing = Task.CompletedTask;
    private Task _announcing = Task.CompletedTask;
    private (UsageCounters Usage, DateTimeOffset Time)? _usageToAnnounce;

    /// <summary>Set when this activation ends: a summary still queued then must not follow the next activation's newer
    /// ones onto the event path, so none is sent.</summary>
    private bool _announcementsOver;
    private UsageCounters? _announced;
    private GrantReservation _reservedRequests = new();
    private GrantReservation _reservedTokens = new();

    /// <summary>The last write failed or is late: grants may go one chunk beyond what storage knows (an overdraft), so
    /// validation stays available through a short storage outage; only a crash of this silo before the next write lands
    /// could then exceed a limit, and by one chunk at most.</summary>
    private bool _storageFailing;

    /// <summary>No write for a reservation is tried before this after one failed, so an outage is not hammered.</summary>
    private DateTimeOffset _retryWriteAt;

    /// <summary>Why a write is made: what it must write, and whether its failure is its caller's.</summary>
    private enum WriteKind
    {
        /// <summary>The timer's write of changed counters; a failure is retried at the next tick.</summary>
        Behind,

        /// <summary>A change of the record, acknowledged only once written; a failure is the caller's.</summary>
        Acknowledged,

        /// <summary>A reservation of grants to be made; a failure is the caller's.</summary>
        Reservation,

        /// <summary>Deactivation: the counters, and no reservation any more, since this activation grants nothing after it.</summary>
        Final,
    }

    private ApiKeyState Key => state.State;

    /// <summary>A host's current grant: what to refund when it reports (and to which reservation, by the marks it was
    /// granted under), whom to tell when the record changes.</summary>
    private sealed record Holder(IKeyLeaseHolder Observer, long GrantedAt, int Granted, long TokenBudget, DateTimeOffset Until,
        long RequestsMark, long TokensMark);

    /// <summary>A host answering this key's limit on its own until <see cref="Until"/>: told of a change like a holder.</summary>
    private sealed record Memo(IKeyLeaseHolder Observer, DateTimeOffset Until);

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (Key.Status != KeyStatus.None)
        {
            Load(null);
            // What a new activation knows of the last minute decides whether a limit can be exceeded after a restart.
            logger.LogDebug("API key grain of {Tenant}/{Model} activated: {Admissions} admissions of the last minute read back",
                Key.Tenant, Key.Model, Key.WindowCounts?.Sum() ?? 0);
        }
        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        logger.LogDebug("API key grain of {Tenant}/{Model} deactivating: {Reason}", Key.Tenant, Key.Model, reason);
        // Not waited for either: a swamped event path must not hold up a stop. The next activation announces newer counters.
        _announcementsOver = true;
        _usageToAnnounce = null;
        // The next activation will not know the hosts answering this key's limit on their own: they ask it instead.
        await DropLeasesAsync(memosOnly: true);
        await FlushAsync(cancellationToken, WriteKind.Final);
    }

    public Task<KeyCheck> ValidateAsync(long tokens, KeyTarget? target = null)
    {
        var now = time.GetUtcNow();
        return ForwardingTo(now) is { } successor ? successor.ValidateAsync(tokens, target) : CheckAsync(tokens, target);
    }

    public async Task<KeyCheck[]> ValidateManyAsync(KeyRequest[] requests)
    {
        if (ForwardingTo(time.GetUtcNow()) is { } successor)
        {
            return await successor.ValidateManyAsync(requests);
        }
        var checks = new KeyCheck[requests.Length];
        for (var i = 0; i < requests.Length; i++)
        {
            checks[i] = await CheckAsync(requests[i].Tokens, requests[i].Target);
        }
        return checks;
    }

    private async Task<KeyCheck> CheckAsync(long tokens, KeyTarget? target)
    {
        // One clock reading for the question and the decision: a request admitted is one the reservation was made for.
        var now = time.GetUtcNow();
        // Nothing is reserved for a request refused anyway (its route, or a limit): a reservation left unspent is
        // carried by every later write and counted as admitted after a crash.
        if (Key.Status == KeyStatus.Active && !(Key.ExpiresAt <= now) && Opens(target) && _limiter?.Admits(now.UtcTicks, Math.Max(0, tokens)) == true)
        {
            await ReserveAsync(Math.Max(0, tokens));
        }
        return Check(now, tokens, target);
    }

    public async Task<KeyLease> LeaseAsync(LeaseRequest request)
    {
        var lease = await Lease(request);
        metrics.LeaseAnswered(lease.Leasable, lease.Granted, lease.Refusal is not null);
        return lease;
    }

    private async ValueTask<KeyLease> Lease(LeaseRequest request)
    {
        var now = time.GetUtcNow();
        Settle(request.Host, request.Previous, now);
        ForgetLapsed(now);
        if (Key.Status == KeyStatus.Forwarding && Key.GraceUntil > now)
        {
            // Answered through the successor, request by request, for the short while the grace period lasts.
            return new KeyLease(false, null, 0, 0, 0, LeasePeriod, 0, 0, null);
        }
        if (Key.Status != KeyStatus.Active || _limiter is null || _record is null || Key.ExpiresAt <= now)
        {
            return Refusal(Check(now, 0, null));
        }
        // Nothing is reserved for a refusal; a grant takes at most what the reservation (or the overdraft) allows, at least one.
        var (maxRequests, maxTokens) = (long.MaxValue, long.MaxValue);
        if (_limiter.Admits(now.UtcTicks, 0))
        {
            // This grain handles nothing else meanwhile (it is not reentrant): the record and limits stay as checked.
            // Tokens are reserved for the budget the grant will give, not for what the host asked (up to the hour's limit).
            (maxRequests, maxTokens) = await ReserveAsync(_limiter.TokenBudget(now.UtcTicks, request.WantedTokens, LeaseShare));
        }
        var ticks = now.UtcTicks;
        var granted = _limiter.Grant(ticks, request.Wanted, request.WantedTokens, LeaseShare, out var tokenBudget, out var refusal, Key.Tenant, Key.Model,
            maxRequests, maxTokens);
        _reservedRequests.Granted(granted);
        _reservedTokens.Granted(tokenBudget);
        // Stamped before a top-up's write takes its snapshot: a refund gives reservation back only for grants after it.
        var (requestsMark, tokensMark) = (_reservedRequests.Mark, _reservedTokens.Mark);
        TopUpWhenLow();
        if (granted == 0)
        {
            if (refusal?.Outcome == KeyOutcome.Limited && request.Waiting > 0)
            {
                CountLimited(now, request.Waiting);
            }
            return new KeyLease(true, _record, 0, 0, ticks, LeasePeriod, 0, 0, refusal, MemoFor(request, refusal, now));
        }
        _holders[(request.Host, ticks)] = new Holder(request.Holder, ticks, granted, tokenBudget, now + LeasePeriod, requestsMark, tokensMark);
        var (remaining, reset) = _limiter.Headroom(ticks);
        return new KeyLease(true, _record, granted, tokenBudget, ticks, LeasePeriod, remaining, reset, null);
    }

    /// <summary>How long the asking host may answer this refusal on its own: until the limit reopens, when nothing but
    /// a change of the key can reopen it sooner. That holds when no host holds a grant (whose unspent part would be
    /// refunded; no grant is made meanwhile, there is no headroom) and a grant this activation forgot is never refunded.
    /// Zero when another host holds one: each request then asks, and a refund is seen at once.</summary>
    private TimeSpan MemoFor(LeaseRequest request, KeyCheck? refusal, DateTimeOffset now)
    {
        if (refusal?.Outcome != KeyOutcome.Limited || _holders.Count > 0 || _limiter is null)
        {
            return TimeSpan.Zero;
        }
        var limitedFor = TimeSpan.FromTicks(Math.Min(_limiter.LimitedFor(now.UtcTicks), MemoLimit.Ticks));
        if (limitedFor <= TimeSpan.Zero)
        {
            return TimeSpan.Zero;
        }
        foreach (var (host, ended) in _memos)
        {
            if (ended.Until <= now)
            {
                // Hosts come and go (each process is a new one): only memos that can still be in use are kept.
                _memos.Remove(host);
            }
        }
        _memos[request.Host] = new Memo(request.Holder, now + limitedFor);
        return limitedFor;
    }

    public Task ReturnAsync(string host, LeaseReport report)
    {
        Settle(host, report, time.GetUtcNow());
        return Task.CompletedTask;
    }

    /// <summary>Counts what a host spent of its grant and refunds what it did not (when the grant is this activation's
    /// own: a grant from before a restart is not in these windows).</summary>
    private void Settle(string host, LeaseReport report, DateTimeOffset now)
    {
        if (report.Limited > 0)
        {
            CountLimited(now, report.Limited);
        }
        if (!report.HasGrant)
        {
            return;
        }
        var spent = Math.Max(0, report.Spent);
        if (_holders.Remove((host, report.GrantedAt), out var holder))
        {
            spent = Math.Min(spent, holder.Granted);
            var unspent = Math.Clamp(report.Unspent, 0, holder.Granted - spent);
            var tokensUnspent = holder.TokenBudget >= 0 ? Math.Clamp(report.TokensUnspent, 0, holder.TokenBudget) : 0;
            _limiter?.Refund(now.UtcTicks, holder.GrantedAt, unspent, tokensUnspent, holder.TokenBudget < 0 ? report.TokensSpent : 0);
            // What was not spent was not admitted: the reservation that covered it may cover another grant instead, so
            // over-sized leases that come back unspent do not make a busy key write more often.
            _reservedRequests.Refunded(unspent, holder.RequestsMark);
            _reservedTokens.Refunded(tokensUnspent, holder.TokensMark);
        }
        Count(now, spent, Math.Max(0, report.TokensSpent));
    }

    /// <summary>Grants whose host never reported (it went away): their unspent part stays counted, as lost capacity.</summary>
    private void ForgetLapsed(DateTimeOffset now)
    {
        if (_holders.Count == 0)
        {
            return;
        }
        foreach (var lapsed in _holders.Where(h => h.Value.Until + LeasePeriod < now).Select(h => h.Key).ToList())
        {
            _holders.Remove(lapsed);
        }
    }

    /// <summary>Before a change of the record is acknowledged: every host holding a lease drops it (and reports), or
    /// its lease runs out. Hosts answering the key's limit on their own are told too, so the change reaches them at once;
    /// one that does not answer only refuses until its memo ends, so the change does not wait for it.</summary>
    private async Task DropLeasesAsync(bool memosOnly = false)
    {
        var now = time.GetUtcNow();
        var live = memosOnly ? [] : _holders.Where(h => h.Value.Until > now).GroupBy(h => h.Key.Host)
            .Select(h => (Host: h.Key, h.First().Value.Observer, Until: h.Max(g => g.Value.Until))).ToList();
        live.AddRange(_memos.Where(m => m.Value.Until > now && !live.Exists(l => l.Host == m.Key))
            .Select(m => (Host: m.Key, m.Value.Observer, Until: DateTimeOffset.MinValue)));
        _memos.Clear();
        if (live.Count == 0)
        {
            _holders.Clear();
            return;
        }
        var key = this.GetPrimaryKeyString();
        var answers = await Task.WhenAll(live.Select(async host =>
        {
            try
            {
                return (host.Host, host.Until, Reports: await host.Observer.DropAsync(key).WaitAsync(DropTimeout, time));
            }
            catch (Exception e) when (e is TimeoutException or OrleansException or OperationCanceledException)
            {
                return (host.Host, host.Until, Reports: (LeaseReport[]?)null);
            }
        }));
        var waitUntil = DateTimeOffset.MinValue;
        foreach (var (host, until, reports) in answers)
        {
            if (reports is not null)
            {
                foreach (var report in reports)
                {
                    Settle(host, report, time.GetUtcNow());
                }
            }
            else if (until > waitUntil)
            {
                waitUntil = until;
            }
        }
        _holders.Clear();
        if (waitUntil > time.GetUtcNow())
        {
            logger.LogWarning("A host holding a lease of an API key of {Tenant}/{Model} did not drop it; waiting until {Until} for the lease to run out",
                Key.Tenant, Key.Model, waitUntil);
        }
        // A timer may fire a little ahead of the clock: wait until the clock itself says the lease is over.
        for (var left = waitUntil - time.GetUtcNow(); left > TimeSpan.Zero; left = waitUntil - time.GetUtcNow())
        {
            await Task.Delay(left + TimeSpan.FromMilliseconds(1), time);
        }
    }

    /// <summary>The successor that answers for this key during its rotation grace period.</summary>
    private IApiKeyGrain? ForwardingTo(DateTimeOffset now) =>
        Key is { Status: KeyStatus.Forwarding, Successor: { } successor } && Key.GraceUntil > now
            ? GrainFactory.GetGrain<IApiKeyGrain>(successor)
            : null;

    private KeyCheck Check(DateTimeOffset now, long tokens, KeyTarget? target)
    {
        tokens = Math.Max(0, tokens);
        switch (Key.Status)
        {
            case KeyStatus.Active when _limiter is not null:
                if (Key.ExpiresAt <= now)
                {
                    return Refused(KeyOutcome.Expired);
                }
                // Before the limiter: a request the key does not open is not counted against it.
                if (!Opens(target))
                {
                    return Refused(KeyOutcome.Forbidden);
                }
                var check = _limiter.TryAcquire(now.UtcTicks, tokens, Key.Tenant, Key.Model);
                if (check.Outcome == KeyOutcome.Valid)
                {
                    Count(now, 1, tokens);
                    _reservedRequests.Granted(1);
                    _reservedTokens.Granted(Key.Limits.TokensPerHour > 0 ? tokens : 0);
                    TopUpWhenLow();
                }
                else if (check.Outcome == KeyOutcome.Limited)
                {
                    CountLimited(now, 1);
                }
                return check;
            case KeyStatus.Forwarding or KeyStatus.Revoked:
                return Refused(KeyOutcome.Revoked);
            default:
                return KeyCheck.Unknown;
        }
    }

    private bool Opens(KeyTarget? target) =>
        (target is null && !(Key.Scope?.AllowedTenants.Count > 0)) || KeyScopes.Admits(Key.Tenant, Key.Model, Key.Scope, target ?? NoTarget);

    private static KeyLease Refusal(KeyCheck check) => new(true, null, 0, 0, 0, LeasePeriod, 0, 0, check);

    public async Task IssueAsync(KeyGrant grant)
    {
        await DropLeasesAsync();
        // A write of the state being replaced must not land after, nor count for, the new one.
        while (!_flushing.IsCompleted)
        {
            await Completion(_flushing);
        }
        state.State = new ApiKeyState
        {
            Status = KeyStatus.Active,
            Tenant = grant.Tenant,
            Model = grant.Model,
            Limits = grant.Limits,
            ExpiresAt = grant.ExpiresAt,
            Scope = grant.Scope,
            Usage = grant.Usage,
            HourStart = grant.Windows?.HourStart ?? 0,
            HourCount = grant.Windows?.HourCount ?? 0,
            HourTokens = grant.Windows?.HourTokens ?? 0,
            MinuteBuckets = grant.History?.Minutes,
            HourBuckets = grant.History?.Hours,
        };
        Load(grant.Windows);
        await FlushAsync(default, WriteKind.Acknowledged);
    }

    public async Task SetLimitsAsync(RateLimits limits)
    {
        if (Key.Status == KeyStatus.None)
        {
            return;
        }
        await DropLeasesAsync();
        var before = Key.Limits;
        await ChangeRecordAsync(() => Key.Limits = limits, () => Key.Limits = before);
        // The limiter takes the limits once they are stored: a failed write must leave its windows as they were.
        _limiter?.SetLimits(limits, time.GetUtcNow().UtcTicks);
        _record = Record();
    }

    public async Task SetScopeAsync(KeyScope scope)
    {
        if (Key.Status == KeyStatus.None)
        {
            return;
        }
        await DropLeasesAsync();
        var before = Key.Scope;
        await ChangeRecordAsync(() => Key.Scope = scope, () => Key.Scope = before);
        _record = Record();
    }

    public async Task RevokeAsync()
    {
        if (Key.Status is KeyStatus.None or KeyStatus.Revoked)
        {
            return;
        }
        Key.Status = KeyStatus.Revoked;
        Key.Successor = null;
        Key.GraceUntil = null;
        _record = null;
        await DropLeasesAsync();
        await FlushAsync(default, WriteKind.Acknowledged);
        logger.LogInformation("API key of {Tenant}/{Model} revoked", Key.Tenant, Key.Model);
    }

    public async Task RotateToAsync(string successor, KeyGrant grant, DateTimeOffset? graceUntil)
    {
        // Leases are dropped (their use counted, the rest refunded) before the windows are handed over, and this grain
        // handles nothing else meanwhile (it is not reentrant), so no request is counted twice or lost between the keys.
        _record = null;
        await DropLeasesAsync();
        var now = time.GetUtcNow();
        try
        {
            await GrainFactory.GetGrain<IApiKeyGrain>(successor).IssueAsync(grant with
            {
                Usage = Snapshot(now),
                Windows = _limiter?.Windows(now.UtcTicks),
                History = new UsageHistory(_minutes.Saved(), _hours.Saved()),
            });
        }
        catch
        {
            _record = Key.Status == KeyStatus.Active ? Record() : null;
            throw;
        }
        var (status, successorBefore, graceBefore) = (Key.Status, Key.Successor, Key.GraceUntil);
        // Failed: this key stays the publication's key (the successor issued stays unknown to anyone, its secret never
        // handed out), rather than forward to, and after the grace give way to, a key its holder never received.
        await ChangeRecordAsync(
            () =>
            {
                Key.Status = graceUntil > now ? KeyStatus.Forwarding : KeyStatus.Revoked;
                Key.Successor = Key.Status == KeyStatus.Forwarding ? successor : null;
                Key.GraceUntil = Key.Status == KeyStatus.Forwarding ? graceUntil : null;
            },
            () =>
            {
                (Key.Status, Key.Successor, Key.GraceUntil) = (status, successorBefore, graceBefore);
                _record = Key.Status == KeyStatus.Active ? Record() : null;
            });
    }

    /// <summary>Changes the record and writes it before anyone is told of it. A failed write puts the change back: the
    /// caller hears of a failure, so it must not be in effect, nor be stored later by a write behind; so the change is
    /// made only once no other write is under way, and none starts before this one (there is no await in between).
    /// (A revocation is kept in effect instead: the safe side; its caller retries it.)</summary>
    private async Task ChangeRecordAsync(Action change, Action undo)
    {
        while (!_flushing.IsCompleted)
        {
            await Completion(_flushing);
        }
        change();
        try
        {
            await FlushAsync(default, WriteKind.Acknowledged);
        }
        catch
        {
            undo();
            throw;
        }
    }

    public Task<UsageCounters> GetUsageAsync() => Task.FromResult(Snapshot(time.GetUtcNow()));

    public Task<UsageSeries> GetUsageSeriesAsync(UsageWindow window)
    {
        var ring = window == UsageWindow.LastDay ? _hours : _minutes;
        return Task.FromResult(new UsageSeries(ring.BucketSeconds, ring.Series(time.GetUtcNow())));
    }

    private KeyCheck Refused(KeyOutcome outcome) =>
        new(outcome, null, null, Key.Limits.RequestsPerMinute, 0, 0, 0, Key.Limits.RequestsPerHour, null);

    private KeyRecord Record() =>
        new(Key.Tenant, Key.Model, Key.Scope, Key.ExpiresAt, Key.Limits.RequestsPerMinute, Key.Limits.RequestsPerHour);

    private void Load(KeyWindows? windows)
    {
        if (windows is null)
        {
            windows = new KeyWindows(Key.HourStart, Key.HourCount, Key.HourTokens, SavedMinuteLog(),
                Key.BurstAt > 0 ? Key.BurstTokens : Key.Limits.BurstLimit, Key.BurstAt);
            if (Key.ReservedRequests > 0 || Key.ReservedTokens > 0)
            {
                // The last activation ended without its final write (its silo crashed, or another activation of this key
                // lived beside it): it may have granted all it had reserved.
                logger.LogInformation("API key grain of {Tenant}/{Model} counts {Requests} admissions and {Tokens} tokens its previous activation had reserved as admitted",
                    Key.Tenant, Key.Model, Key.ReservedRequests, Key.ReservedTokens);
                windows = KeyLimiter.AssumeAdmitted(windows, Key.Limits, time.GetUtcNow().UtcTicks, Key.ReservedRequests, Key.ReservedTokens,
                    TokenChunk);
            }
        }
        _limiter = new KeyLimiter(Key.Limits, windows);
        // Nothing written so far reserves grants for this state (a new record or a new activation).
        _reservedRequests = new GrantReservation();
        _reservedTokens = new GrantReservation();
        _record = Key.Status == KeyStatus.Active ? Record() : null;
        _totalRequests = Key.Usage.TotalRequests;
        _requestsToday = Key.Usage.RequestsToday;
        _tokensUsed = Key.Usage.TokensUsed;
        _lastAccess = Key.Usage.LastAccessTime;
        _announced = Key.Usage;
        _minutes = UsageRing.ByMinute(Key.MinuteBuckets);
        _hours = UsageRing.ByHour(Key.HourBuckets);
        _today = DateOnly.FromDateTime((_lastAccess ?? time.GetUtcNow()).UtcDateTime);
        _dirty = false;
        // Interleaved, so validations keep being answered while counters are written; only this timer and the
        // acknowledged writes below touch the persisted state, and those wait for a running flush first.
        _timer ??= this.RegisterGrainTimer(TimerFlushAsync, new GrainTimerCreationOptions(FlushPeriod, FlushPeriod) { Interleave = true });
    }

    /// <summary>The saved window's admissions, each at the end of its second: never earlier than it happened, so a
    /// restored entry leaves the window no sooner than the admission it stands for.</summary>
    private long[] SavedMinuteLog()
    {
        if (Key.WindowSeconds is not { } seconds || Key.WindowCounts is not { } counts || seconds.Length != counts.Length)
        {
            return [];
        }
        var log = new long[counts.Sum(c => (long)Math.Max(0, c))];
        var i = 0;
        for (var s = 0; s < seconds.Length; s++)
        {
            for (var c = 0; c < counts[s]; c++)
            {
                log[i++] = seconds[s] + TimeSpan.TicksPerSecond - 1;
            }
        }
        return log;
    }

    /// <summary>The window to save: its admissions counted per second.</summary>
    private void SaveWindows(KeyWindows windows)
    {
        var seconds = new List<long>();
        var counts = new List<int>();
        foreach (var at in windows.MinuteLog)
        {
            var second = at - at % TimeSpan.TicksPerSecond;
            if (seconds.Count > 0 && seconds[^1] == second)
            {
                counts[^1]++;
            }
            else
            {
                seconds.Add(second);
                counts.Add(1);
            }
        }
        Key.WindowSeconds = [.. seconds];
        Key.WindowCounts = [.. counts];
        Key.BurstTokens = windows.BurstTokens;
        Key.BurstAt = windows.BurstAt;
    }

    private void Count(DateTimeOffset now, int requests, long tokens)
    {
        if (requests == 0 && tokens == 0)
        {
            return;
        }
        var day = DateOnly.FromDateTime(now.UtcDateTime);
        if (day != _today)
        {
            _today = day;
            _requestsToday = 0;
        }
        _totalRequests += requests;
        _requestsToday += requests;
        _tokensUsed = Saturating.Add(_tokensUsed, tokens);
        _lastAccess = now;
        _minutes.Add(now, requests, tokens, 0);
        _hours.Add(now, requests, tokens, 0);
        _dirty = true;
    }

    /// <summary>Requests refused for a limit (429): kept apart from the admitted ones in the history. For a lease
    /// renewal, the requests the host says were waiting for it; those that joined it while it was under way come with
    /// the host's next report.</summary>
    private void CountLimited(DateTimeOffset now, int requests)
    {
        _minutes.Add(now, 0, 0, requests);
        _hours.Add(now, 0, 0, requests);
        _dirty = true;
    }

    private UsageCounters Snapshot(DateTimeOffset now) =>
        new(_totalRequests, DateOnly.FromDateTime(now.UtcDateTime) == _today ? _requestsToday : 0, _tokensUsed, _lastAccess);

    private Task TimerFlushAsync(CancellationToken cancellationToken)
    {
        if (!_flushing.IsCompleted)
        {
            return Task.CompletedTask;
        }
        _flushing = WriteAsync(cancellationToken, WriteKind.Behind);
        return _flushing;
    }

    /// <summary>The size of a reservation: a share of the tightest limit, so a busy key writes a few times per window
    /// at most, and a crash costs at most that share of one window's capacity.</summary>
    private static long Chunk(long limit) => Math.Max(1, (long)Math.Ceiling(limit * LeaseShare));

    private long RequestChunk => Chunk(Math.Min(Key.Limits.RequestsPerMinute, Key.Limits.RequestsPerHour));

    private long TokenChunk => Key.Limits.TokensPerHour > 0 ? Chunk(Key.Limits.TokensPerHour) : 0;

    /// <summary>What may be granted now without another write: the reservation's rest, plus a chunk while storage is
    /// failing; null when that does not cover one admission and <paramref name="tokens"/> tokens.</summary>
    private (long Requests, long Tokens)? Allowance(long tokens, bool overdraft)
    {
        var requests = _reservedRequests.Available(overdraft ? RequestChunk : 0);
        var tokensLeft = Key.Limits.TokensPerHour > 0
            ? _reservedTokens.Available(overdraft ? TokenChunk : 0, _limiter?.HourStart ?? 0)
            : long.MaxValue;
        return requests >= 1 && tokensLeft >= tokens ? (requests, tokensLeft) : null;
    }

    /// <summary>Before a grant: what may be granted with storage knowing of it, writing a reservation first when what is
    /// left does not cover one admission and the <paramref name="tokens"/> the grant needs (the caller's limiter admits
    /// them: no more than the hour has left). Such a write reserves the larger of a chunk and that need, exactly the need
    /// when it is larger, never the whole hour's limit for a lease that asks for more than it will be given. When storage
    /// does not take it within <see cref="ReserveWait"/>, grants go on into the overdraft; past that, the request fails
    /// as unavailable (a 503 with Retry-After for the gateway) rather than exceed a limit.</summary>
    private async ValueTask<(long Requests, long Tokens)> ReserveAsync(long tokens)
    {
        var wantedTokens = Key.Limits.TokensPerHour > 0 ? Math.Min(Math.Max(1, tokens), Key.Limits.TokensPerHour) : 0;
        if (Allowance(wantedTokens, overdraft: false) is { } left)
        {
            return left;
        }
        if (time.GetUtcNow() >= _retryWriteAt)
        {
            var deadline = time.GetUtcNow() + ReserveWait;
            try
            {
                if (!_flushing.IsCompleted)
                {
                    // A write under way reserves a chunk too.
                    await WithinAsync(Completion(_flushing), deadline);
                }
                if (Allowance(wantedTokens, overdraft: false) is null)
                {
                    await WithinAsync(FlushAsync(default, WriteKind.Reservation, wantedTokens), deadline);
                }
            }
            catch (Exception e) when (e is not InconsistentStateException)
            {
                // A write that timed out may still land: until one does, this activation counts as failing.
                Failed(e);
            }
            if (Allowance(wantedTokens, overdraft: false) is { } written)
            {
                return written;
            }
        }
        if (_storageFailing && Allowance(wantedTokens, overdraft: true) is { } overdraft)
        {
            return overdraft;
        }
        throw new TimeoutException($"Storage did not take a reservation of grants for an API key of {Key.Tenant}/{Key.Model}; retry shortly");
    }

    private async Task WithinAsync(Task task, DateTimeOffset deadline)
    {
        try
        {
            await task.WaitAsync(Max(deadline - time.GetUtcNow(), TimeSpan.Zero), time);
        }
        catch (TimeoutException) when (!task.IsCompleted)
        {
            _ = Completion(task); // its outcome is seen by the next write, which waits for it
            throw;
        }
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    /// <summary>A write failed (not on the ETag): grants may use the overdraft, and no write is tried for a while.</summary>
    private void Failed(Exception e)
    {
        if (!_storageFailing)
        {
            logger.LogWarning("Storage refused or delayed a write of an API key of {Tenant}/{Model} ({Error}): grants go on, one reservation's worth at most, until a write lands",
                Key.Tenant, Key.Model, e.GetType().Name);
        }
        _storageFailing = true;
        _retryWriteAt = time.GetUtcNow() + ReserveWait;
    }

    /// <summary>Reserves more ahead of need, so a busy key's grants rarely wait for a write.</summary>
    private void TopUpWhenLow()
    {
        if (!_flushing.IsCompleted || time.GetUtcNow() < _retryWriteAt
            || (_reservedRequests.Available(0) * 2 >= RequestChunk && _reservedTokens.Available(0) * 2 >= TokenChunk))
        {
            return;
        }
        _flushing = TopUpAsync();

        async Task TopUpAsync()
        {
            try
            {
                await WriteAsync(default, WriteKind.Reservation);
            }
            catch (Exception e)
            {
                logger.LogDebug(e, "Reserving grants ahead for an API key of {Tenant}/{Model} failed", Key.Tenant, Key.Model);
            }
        }
    }

    private static async Task Completion(Task write)
    {
        try
        {
            await write;
        }
        catch (Exception)
        {
            // That write's own caller saw its failure.
        }
    }

    /// <summary>One write at a time: a record change or a reservation waits for a write already under way.</summary>
    private async Task FlushAsync(CancellationToken cancellationToken, WriteKind kind, long wantedTokens = 0)
    {
        while (!_flushing.IsCompleted)
        {
            await Completion(_flushing);
        }
        _flushing = WriteAsync(cancellationToken, kind, wantedTokens);
        await _flushing;
    }

    private async Task WriteAsync(CancellationToken cancellationToken, WriteKind kind, long wantedTokens = 0)
    {
        var now = time.GetUtcNow();
        var stored = Key.ReservedRequests > 0 || Key.ReservedTokens > 0;
        if (Key.Status == KeyStatus.None || (kind == WriteKind.Behind && !_dirty) || (kind == WriteKind.Final && !_dirty && !stored))
        {
            return;
        }
        Key.Usage = Snapshot(now);
        Key.MinuteBuckets = _minutes.Saved();
        Key.HourBuckets = _hours.Saved();
        if (_limiter is not null)
        {
            Key.HourStart = _limiter.HourStart;
            Key.HourCount = _limiter.HourCount;
            Key.HourTokens = _limiter.HourTokens;
            SaveWindows(_limiter.Windows(now.UtcTicks));
        }
        // Taken with the windows above: grants made while this write is under way count against it.
        var reserving = Key.Status == KeyStatus.Active && kind != WriteKind.Final;
        // What a new activation reading this write counts in a later hour: a chunk of the limits written here.
        var (hour, carry) = (Key.HourStart, TokenChunk);
        var requests = _reservedRequests.Take(reserving ? RequestChunk : 0, 0);
        var tokens = _reservedTokens.Take(reserving ? TokenChunk : 0, wantedTokens);
        Key.ReservedRequests = reserving ? (int)Math.Min(int.MaxValue, requests.Reserved) : 0;
        Key.ReservedTokens = reserving ? tokens.Reserved : 0;
        _dirty = false;
        try
        {
            await state.WriteStateAsync(cancellationToken);
        }
        catch (Exception e)
        {
            _dirty = true;
            if (e is InconsistentStateException)
            {
                // Another activation of this key wrote since this one read: it is the key's one activation now, and its
                // windows count what this one had reserved as admitted, from its own start. This one's grants so far
                // stay within that; it grants nothing more and takes no overdraft, so a grant fails (a 503 for the
                // gateway) until it has deactivated.
                _storageFailing = false;
                _reservedRequests.Stop();
                _reservedTokens.Stop();
                DeactivateOnIdle();
            }
            else
            {
                Failed(e);
            }
            if (kind is WriteKind.Acknowledged or WriteKind.Reservation)
            {
                throw;
            }
            // A lost write-behind costs counting precision, not correctness; the next tick retries.
            logger.LogDebug(e, "Writing the counters of an API key of {Tenant}/{Model} behind failed", Key.Tenant, Key.Model);
            return;
        }
        if (reserving)
        {
            _reservedRequests.Written(requests);
            _reservedTokens.Written(tokens, hour, carry);
        }
        _storageFailing = false;
        // Any landed write of new counters is announced: a reservation written ahead takes the counters too, and
        // no write behind may follow it.
        if (kind != WriteKind.Final && Key.Status == KeyStatus.Active && Key.Usage != _announced)
        {
            _announced = Key.Usage;
            AnnounceUsage(Key.Usage, now);
        }
    }

    /// <summary>Usage reaches UIs as it is written (behind every period, and with a reservation written ahead), only on
    /// change, stamped with the write's time. It is announced apart from the write: a write (and so a reservation a grant waits for) must not wait for the
    /// event path, which many busy keys can slow down. One summary per key is under way at a time; newer usage written
    /// meanwhile is announced when it ends, as one summary of the latest written counters, so a slow event path gets
    /// fewer summaries rather than a growing queue of them.</summary>
    private void AnnounceUsage(UsageCounters written, DateTimeOffset time)
    {
        if (_announcementsOver)
        {
            return;
        }
        _usageToAnnounce = (written, time);
        if (_announcing.IsCompleted)
        {
            _announcing = AnnounceWrittenUsageAsync();
        }
    }

    private async Task AnnounceWrittenUsageAsync()
    {
        // Nothing queued is announced once the key is revoked or rotated: it would follow their own events.
        while (_usageToAnnounce is { } next && Key.Status == KeyStatus.Active && !_announcementsOver)
        {
            _usageToAnnounce = null;
            await GrainFactory.PublishChangeAsync(ChangeTypes.UsageSummary, Key.Tenant, "publication", Key.Model,
                new UsageSummary(Key.Model, Key.Tenant, next.Usage), next.Time, logger);
        }
    }
}
