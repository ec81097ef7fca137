using Inference.Grains.Abstractions.Events;
using Inference.Grains.Events;
using Inference.Grains.Abstractions.Keys;
using Inference.Grains.Abstractions.Publishing;
using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Logging;

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
}

/// <summary>One API key. The record (owner, status, expiry, limits) is written before any change is acknowledged;
/// usage counters and the hourly windows are written behind every <see cref="FlushPeriod"/> and on deactivation, so
/// the validation path never waits for storage. A silo crash loses at most that period of counting.
/// An active or revoked key also takes validations directly from an API host in its own process
/// (<see cref="LocalApiKeys"/>), under the same lock as its own methods.</summary>
public sealed class ApiKeyGrain(
    [PersistentState("apikey", StorageNames.State)] IPersistentState<ApiKeyState> state,
    LocalApiKeys localKeys,
    TimeProvider time,
    ILogger<ApiKeyGrain> logger) : Grain, IApiKeyGrain
{
    public static readonly TimeSpan FlushPeriod = TimeSpan.FromSeconds(5);

    private static readonly KeyTarget NoTarget = new(null, null, null, null, null, null);

    /// <summary>How long an activation that took direct validations since its last flush is kept from idle
    /// collection: direct validations are no grain calls, so Orleans would otherwise see a busy key as idle.</summary>
    public static readonly TimeSpan DirectUseKeepAlive = TimeSpan.FromMinutes(2);

    // Orleans runs this grain's methods one at a time, but direct validations run on the API host's threads: the
    // record, the windows and the counters are read and changed only under this lock.
    private readonly Lock _gate = new();
    private bool _open;
    private bool _usedDirectly;

    private KeyLimiter? _limiter;
    private long _totalRequests;
    private long _requestsToday;
    private DateOnly _today;
    private long _tokensUsed;
    private DateTimeOffset? _lastAccess;
    private bool _dirty;
    private IGrainTimer? _timer;
    private Task _flushing = Task.CompletedTask;

    // The same object as state.State, kept here because Orleans lets only the activation's own turns through
    // state.State, and direct validations read the record from the API host's threads.
    private ApiKeyState Key { get; set; } = null!;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        Key = state.State;
        if (Key.Status != KeyStatus.None)
        {
            Load(null);
            OpenToDirectValidation();
        }
        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        // Closed before the last flush, so nothing is counted here that the next activation would not read.
        CloseToDirectValidation();
        await FlushAsync(cancellationToken);
    }

    /// <summary>A direct validation (<see cref="LocalApiKeys.TryValidate"/>): decided here exactly as by
    /// <see cref="ValidateAsync"/>, or false while this activation does not take them (forwarding, rotating,
    /// deactivating): the caller then makes the grain call.</summary>
    internal bool TryValidateHere(long tokens, KeyTarget? target, [NotNullWhen(true)] out KeyCheck? check)
    {
        lock (_gate)
        {
            if (!_open)
            {
                check = null;
                return false;
            }
            _usedDirectly = true;
            check = Check(time.GetUtcNow(), tokens, target);
            return true;
        }
    }

    public Task<KeyCheck> ValidateAsync(long tokens, KeyTarget? target = null)
    {
        IApiKeyGrain? successor;
        lock (_gate)
        {
            var now = time.GetUtcNow();
            successor = ForwardingTo(now);
            if (successor is null)
            {
                return Task.FromResult(Check(now, tokens, target));
            }
        }
        return successor.ValidateAsync(tokens, target);
    }

    public Task<KeyCheck[]> ValidateManyAsync(KeyRequest[] requests)
    {
        IApiKeyGrain? successor;
        lock (_gate)
        {
            var now = time.GetUtcNow();
            successor = ForwardingTo(now);
            if (successor is null)
            {
                var checks = new KeyCheck[requests.Length];
                for (var i = 0; i < requests.Length; i++)
                {
                    checks[i] = Check(now, requests[i].Tokens, requests[i].Target);
                }
                return Task.FromResult(checks);
            }
        }
        return successor.ValidateManyAsync(requests);
    }

    /// <summary>Lets API hosts in this process validate against this activation directly: only for a key that
    /// answers for itself (active or revoked; a forwarding key answers through its successor).</summary>
    private void OpenToDirectValidation()
    {
        bool open;
        lock (_gate)
        {
            _open = open = Key.Status is KeyStatus.Active or KeyStatus.Revoked;
        }
        if (open)
        {
            localKeys.Add(this.GetPrimaryKeyString(), this);
        }
    }

    private void CloseToDirectValidation()
    {
        lock (_gate)
        {
            _open = false;
        }
        localKeys.Remove(this.GetPrimaryKeyString(), this);
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
                if ((target is not null || Key.Scope?.AllowedTenants.Count > 0)
                    && !KeyScopes.Admits(Key.Tenant, Key.Model, Key.Scope, target ?? NoTarget))
                {
                    return Refused(KeyOutcome.Forbidden);
                }
                var check = _limiter.TryAcquire(now.UtcTicks, tokens, Key.Tenant, Key.Model);
                if (check.Outcome == KeyOutcome.Valid)
                {
                    Count(now, tokens);
                }
                return check;
            case KeyStatus.Forwarding or KeyStatus.Revoked:
                return Refused(KeyOutcome.Revoked);
            default:
                return KeyCheck.Unknown;
        }
    }

    public async Task IssueAsync(KeyGrant grant)
    {
        // Until the record is written, direct validations wait for it like grain calls do (behind this turn).
        CloseToDirectValidation();
        lock (_gate)
        {
            state.State = Key = new ApiKeyState
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
            };
            Load(grant.Windows);
        }
        await state.WriteStateAsync();
        OpenToDirectValidation();
    }

    public async Task SetLimitsAsync(RateLimits limits)
    {
        if (Key.Status == KeyStatus.None)
        {
            return;
        }
        lock (_gate)
        {
            Key.Limits = limits;
            _limiter?.SetLimits(limits, time.GetUtcNow().UtcTicks);
        }
        await FlushAsync(default, force: true);
    }

    public async Task SetScopeAsync(KeyScope scope)
    {
        if (Key.Status == KeyStatus.None)
        {
            return;
        }
        lock (_gate)
        {
            Key.Scope = scope;
        }
        await FlushAsync(default, force: true);
    }

    public async Task RevokeAsync()
    {
        lock (_gate)
        {
            if (Key.Status is KeyStatus.None or KeyStatus.Revoked)
            {
                return;
            }
            Key.Status = KeyStatus.Revoked;
            Key.Successor = null;
            Key.GraceUntil = null;
        }
        await FlushAsync(default, force: true);
        logger.LogInformation("API key of {Tenant}/{Model} revoked", Key.Tenant, Key.Model);
    }

    public async Task RotateToAsync(string successor, KeyGrant grant, DateTimeOffset? graceUntil)
    {
        var now = time.GetUtcNow();
        // Issued while this grain handles nothing else (it is not reentrant) and takes no direct validations (closed
        // in the same lock as the snapshot), so no request is counted twice or lost between the two keys.
        UsageCounters usage;
        KeyWindows? windows;
        lock (_gate)
        {
            _open = false;
            usage = Snapshot(now);
            windows = _limiter?.Windows(now.UtcTicks);
        }
        localKeys.Remove(this.GetPrimaryKeyString(), this);
        try
        {
            await GrainFactory.GetGrain<IApiKeyGrain>(successor).IssueAsync(grant with { Usage = usage, Windows = windows });
        }
        catch
        {
            OpenToDirectValidation();
            throw;
        }
        lock (_gate)
        {
            Key.Status = graceUntil > now ? KeyStatus.Forwarding : KeyStatus.Revoked;
            Key.Successor = Key.Status == KeyStatus.Forwarding ? successor : null;
            Key.GraceUntil = Key.Status == KeyStatus.Forwarding ? graceUntil : null;
        }
        OpenToDirectValidation();
        await FlushAsync(default, force: true);
    }

    public Task<UsageCounters> GetUsageAsync()
    {
        lock (_gate)
        {
            return Task.FromResult(Snapshot(time.GetUtcNow()));
        }
    }

    private KeyCheck Refused(KeyOutcome outcome) =>
        new(outcome, null, null, Key.Limits.RequestsPerMinute, 0, 0, 0, Key.Limits.RequestsPerHour, null);

    private void Load(KeyWindows? windows)
    {
        _limiter = new KeyLimiter(Key.Limits, windows ?? new KeyWindows(Key.HourStart, Key.HourCount, Key.HourTokens, [], Key.Limits.BurstLimit, 0));
        _totalRequests = Key.Usage.TotalRequests;
        _requestsToday = Key.Usage.RequestsToday;
        _tokensUsed = Key.Usage.TokensUsed;
        _lastAccess = Key.Usage.LastAccessTime;
        _today = DateOnly.FromDateTime((_lastAccess ?? time.GetUtcNow()).UtcDateTime);
        _dirty = false;
        // Interleaved, so validations keep being answered while counters are written; only this timer and the
        // acknowledged writes below touch the persisted state, and those wait for a running flush first.
        _timer ??= this.RegisterGrainTimer(TimerFlushAsync, new GrainTimerCreationOptions(FlushPeriod, FlushPeriod) { Interleave = true });
    }

    private void Count(DateTimeOffset now, long tokens)
    {
        var day = DateOnly.FromDateTime(now.UtcDateTime);
        if (day != _today)
        {
            _today = day;
            _requestsToday = 0;
        }
        _totalRequests++;
        _requestsToday++;
        _tokensUsed = KeyLimiter.Saturating(_tokensUsed, tokens);
        _lastAccess = now;
        _dirty = true;
    }

    private UsageCounters Snapshot(DateTimeOffset now) =>
        new(_totalRequests, DateOnly.FromDateTime(now.UtcDateTime) == _today ? _requestsToday : 0, _tokensUsed, _lastAccess);

    private Task TimerFlushAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_usedDirectly)
            {
                _usedDirectly = false;
                DelayDeactivation(DirectUseKeepAlive);
            }
        }
        if (!_flushing.IsCompleted)
        {
            return Task.CompletedTask;
        }
        _flushing = WriteAsync(cancellationToken, force: false);
        return _flushing;
    }

    private Task FlushAsync(CancellationToken cancellationToken) => FlushAsync(cancellationToken, force: false);

    /// <summary>One write at a time: a record change waits for a write-behind already under way.</summary>
    private async Task FlushAsync(CancellationToken cancellationToken, bool force)
    {
        while (!_flushing.IsCompleted)
        {
            try
            {
                await _flushing;
            }
            catch (Exception)
            {
                // That write's own caller saw its failure; this one writes afresh.
            }
        }
        _flushing = WriteAsync(cancellationToken, force);
        await _flushing;
    }

    private async Task WriteAsync(CancellationToken cancellationToken, bool force)
    {
        var now = time.GetUtcNow();
        lock (_gate)
        {
            if ((!force && !_dirty) || Key.Status == KeyStatus.None)
            {
                return;
            }
            Key.Usage = Snapshot(now);
            if (_limiter is not null)
            {
                Key.HourStart = _limiter.HourStart;
                Key.HourCount = _limiter.HourCount;
                Key.HourTokens = _limiter.HourTokens;
            }
            _dirty = false;
        }
        try
        {
            await state.WriteStateAsync(cancellationToken);
        }
        catch when (!force)
        {
            // A lost write-behind costs counting precision, not correctness; the next tick retries.
            lock (_gate)
            {
                _dirty = true;
            }
            return;
        }
        if (!force && Key.Status == KeyStatus.Active)
        {
            // Usage reaches UIs at the write-behind rate: at most one summary per key per period, only on change.
            await GrainFactory.PublishChangeAsync(ChangeTypes.UsageSummary, Key.Tenant, "publication", Key.Model,
                new UsageSummary(Key.Model, Key.Tenant, Key.Usage), now, logger);
        }
    }
}
