using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Azure;
using Azure.Data.Tables;
using Inference.ApiHost.Http;
using Inference.Silo;
using Microsoft.Extensions.Options;

namespace Inference.ApiHost.Audit;

/// <summary>The audit trail in the Azure table <c>{TablePrefix}audit</c> of the grain-storage account, so it
/// survives restarts of any process and is shared by every API host of a cluster. Each record is written twice:
/// in its tenant's partition (a tenant's trail is one partition scan) and in the <see cref="AllPartition"/> (the
/// admin's cross-tenant view, equally cheap). RowKeys are inverted ticks, so a partition reads newest first.
/// <para>Bounded: failed logins become one row per source per minute, and a caller past
/// <see cref="AuditOptions.MaxRecordsPerCallerPerMinute"/> one row per action and outcome per minute, each with a
/// count (rewritten as it grows, every <see cref="AuditOptions.FlushInterval"/> and before a query); records past
/// <see cref="AuditOptions.Retention"/> are not returned and are deleted by <see cref="SweepAsync"/>.</para></summary>
public sealed class TableAuditLog : IAuditLog
{
    /// <summary>Not a DNS label, so no tenant can collide with it.</summary>
    public const string AllPartition = "~all";

    public const string MeterName = "Inference.Audit";

    private readonly ILogger<TableAuditLog> _logger;
    private readonly AuditOptions _options;
    private readonly TimeProvider _time;
    private readonly TableClient _table;
    private readonly SemaphoreSlim _createLock = new(1, 1);
    private readonly WindowCounter<string> _perCaller;
    private readonly ConcurrentDictionary<AggregateKey, Aggregate> _aggregates = new();
    private readonly Counter<long> _aggregatedMetric;
    private long _writeFailures;
    // Each host writes its own aggregated rows, so hosts never overwrite each other's counts.
    private readonly string _hostTag = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4));
    private volatile bool _created;
    private long _aggregated;

    public TableAuditLog(ClusterSettings settings, IOptions<AuditOptions> options, TimeProvider time, IMeterFactory meters, ILogger<TableAuditLog> logger)
    {
        var meter = meters.Create(MeterName);
        _logger = logger;
        _options = options.Value;
        _time = time;
        _table = new TableServiceClient(settings.StorageConnectionString).GetTableClient(settings.AuditTable);
        _perCaller = new WindowCounter<string>(_options.MaxRecordsPerCallerPerMinute, time);
        _aggregatedMetric = meter.CreateCounter<long>("inference.audit.aggregated", description: "Audit records folded into an aggregated row instead of a row each");
        // Observed rather than counted, so the series is there (at zero) before the first failure: an alert on it
        // needs no absent() clause.
        meter.CreateObservableCounter("inference.audit.write_failures", () => Interlocked.Read(ref _writeFailures), "{record}",
            "Audit records that could not be stored (each went to the error log in full)");
    }

    /// <summary>Records folded into aggregated rows by this host (failed logins, callers past their bound).</summary>
    public long Aggregated => Interlocked.Read(ref _aggregated);

    private sealed record AggregateKey(DateTimeOffset Minute, string? Tenant, string Action, string Actor, string Outcome, int Status, string? SourceIp);

    private sealed class Aggregate(string rowKey)
    {
        public readonly string RowKey = rowKey;
        public int Count;
        public int Written;
    }

    public async Task WriteAsync(AuditRecord record)
    {
        if (record.Action == AuditRecord.LoginFailed)
        {
            // Anyone can fail a login, as often as they like: one row per source and minute, whoever they claim to be.
            await AggregateAsync(record with { Actor = "*", Status = StatusCodes.Status401Unauthorized });
            return;
        }
        if (!_perCaller.TryAttempt(record.Actor, out _))
        {
            await AggregateAsync(record);
            return;
        }
        await WriteRowAsync(record, RowKey(record.Time) + "-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4)), upsert: false);
    }

    private async Task AggregateAsync(AuditRecord record)
    {
        Interlocked.Increment(ref _aggregated);
        _aggregatedMetric.Add(1);
        var now = _time.GetUtcNow();
        var minute = new DateTimeOffset(now.UtcTicks - now.UtcTicks % TimeSpan.TicksPerMinute, TimeSpan.Zero);
        var key = new AggregateKey(minute, record.Tenant, record.Action, record.Actor, record.Outcome, record.Status, record.SourceIp);
        if (!_aggregates.ContainsKey(key) && _aggregates.Count >= _options.MaxAggregates)
        {
            key = key with { Actor = "*", SourceIp = "*" };
        }
        // A longer hex suffix than a single record's: the host's tag and the aggregate's identity, so the row is
        // stable while its count grows and hosts never share one.
        var aggregate = _aggregates.GetOrAdd(key, k => new Aggregate(
            RowKey(k.Minute) + "-" + _hostTag + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(
                System.Text.Encoding.UTF8.GetBytes($"{k.Tenant}|{k.Action}|{k.Actor}|{k.Outcome}|{k.Status}|{k.SourceIp}")))[..16]));
        if (Interlocked.Increment(ref aggregate.Count) == 1)
        {
            // The first of its minute is stored at once, so the trail shows it without waiting for a flush.
            await FlushAsync(key, aggregate);
        }
    }

    /// <summary>Writes every aggregated row whose count grew since it was last written, and forgets those of past
    /// minutes once written.</summary>
    public async Task FlushAsync()
    {
        var currentMinute = _time.GetUtcNow().UtcTicks / TimeSpan.TicksPerMinute;
        foreach (var (key, aggregate) in _aggregates)
        {
            await FlushAsync(key, aggregate);
            if (key.Minute.UtcTicks / TimeSpan.TicksPerMinute < currentMinute && Volatile.Read(ref aggregate.Written) == Volatile.Read(ref aggregate.Count))
            {
                _aggregates.TryRemove(new KeyValuePair<AggregateKey, Aggregate>(key, aggregate));
            }
        }
    }

    private async Task FlushAsync(AggregateKey key, Aggregate aggregate)
    {
        var count = Volatile.Read(ref aggregate.Count);
        if (count == Volatile.Read(ref aggregate.Written))
        {
            return;
        }
        var record = new AuditRecord(key.Minute, key.Actor, key.Tenant, key.Action, null, key.Outcome, key.Status, key.SourceIp, count);
        if (await WriteRowAsync(record, aggregate.RowKey, upsert: true))
        {
            // A larger count written meanwhile by another flush stays: counts only grow.
            var written = Volatile.Read(ref aggregate.Written);
            while (written < count && Interlocked.CompareExchange(ref aggregate.Written, count, written) is var seen && seen != written)
            {
                written = seen;
            }
        }
    }

    private async Task<bool> WriteRowAsync(AuditRecord record, string rowKey, bool upsert)
    {
        try
        {
            await EnsureTableAsync();
            var partitions = string.IsNullOrEmpty(record.Tenant) ? new[] { AllPartition } : [AllPartition, record.Tenant];
            await Task.WhenAll(partitions.Select(p => upsert
                ? _table.UpsertEntityAsync(Entity(record, p, rowKey), TableUpdateMode.Replace)
                : _table.AddEntityAsync(Entity(record, p, rowKey))));
            return true;
        }
        catch (Exception e) when (e is RequestFailedException or HttpRequestException or OperationCanceledException)
        {
            // The audited change has already happened; failing its response would hide it from the caller. The
            // record goes to the log instead, where operators alert on it.
            Interlocked.Increment(ref _writeFailures);
            _logger.LogError(e, "Audit record could not be stored: {Time} {Actor} {Tenant} {Action} {Target} {Outcome} {Status} {Source} x{Count}",
                record.Time, record.Actor, record.Tenant, record.Action, record.Target, record.Outcome, record.Status, record.SourceIp, record.Count);
            return false;
        }
    }

    /// <summary>Deletes at most <see cref="AuditOptions.SweepBatch"/> records older than the retention; returns
    /// how many it deleted.</summary>
    public async Task<int> SweepAsync(CancellationToken cancellationToken)
    {
        await EnsureTableAsync();
        // Older than the cutoff = a larger inverted-ticks prefix; '~' sorts after every '-suffix' of the cutoff's own.
        var filter = TableClient.CreateQueryFilter($"RowKey gt {RowKey(Cutoff()) + "~"}");
        var deleted = 0;
        await foreach (var entity in _table.QueryAsync<TableEntity>(filter, maxPerPage: Math.Min(_options.SweepBatch, 1000), select: ["PartitionKey", "RowKey"], cancellationToken: cancellationToken))
        {
            if (deleted >= _options.SweepBatch)
            {
                break;
            }
            try
            {
                await _table.DeleteEntityAsync(entity.PartitionKey, entity.RowKey, ETag.All, cancellationToken);
            }
            catch (RequestFailedException e) when (e.Status == 404)
            {
                // Another host's sweep got there first.
            }
            deleted++;
        }
        return deleted;
    }

    private DateTimeOffset Cutoff() => _time.GetUtcNow() - _options.Retention;

    public async Task<AuditPage> QueryAsync(AuditQuery query, CancellationToken cancellationToken)
    {
        await EnsureTableAsync();
        await FlushAsync();
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {query.Tenant ?? AllPartition}");
        if (query.Action is { } action)
        {
            filter += " and " + TableClient.CreateQueryFilter($"Action eq {action}");
        }
        if (query.To is { } to)
        {
            filter += " and " + TableClient.CreateQueryFilter($"RowKey ge {RowKey(to)}");
        }
        // Nothing older than the retention is returned, whether or not the sweep has reached it yet.
        var from = Cutoff();
        if (query.From > from)
        {
            from = query.From.Value;
        }
        {
            // '~' sorts after the '-suffix' of every row key with this time prefix.
            filter += " and " + TableClient.CreateQueryFilter($"RowKey lt {RowKey(from) + "~"}");
        }
        if (query.After is { } after)
        {
            // Checked again here, where it enters a storage filter, whoever built the query.
            if (!IsRowKey(after))
            {
                throw new FormatException("Not a row key of the audit trail");
            }
            filter += " and " + TableClient.CreateQueryFilter($"RowKey gt {after}");
        }
        var entities = new List<TableEntity>(query.Limit + 1);
        await foreach (var entity in _table.QueryAsync<TableEntity>(filter, maxPerPage: query.Limit + 1, cancellationToken: cancellationToken))
        {
            entities.Add(entity);
            if (entities.Count > query.Limit)
            {
                break;
            }
        }
        var shown = entities.Take(query.Limit).ToList();
        return new AuditPage(shown.Select(Record).ToList(), entities.Count > query.Limit ? shown[^1].RowKey : null);
    }

    /// <summary>A record's row key (an 8-hex suffix) or an aggregated row's (24 hex).</summary>
    public static bool IsRowKey(string value) =>
        value.Length is 28 or 44 && value[19] == '-' && value.AsSpan(0, 19).IndexOfAnyExceptInRange('0', '9') < 0
        && value.AsSpan(20).IndexOfAnyExcept("0123456789abcdef") < 0;

    private async Task EnsureTableAsync()
    {
        if (_created)
        {
            return;
        }
        await _createLock.WaitAsync();
        try
        {
            if (!_created)
            {
                await _table.CreateIfNotExistsAsync();
                _created = true;
            }
        }
        finally
        {
            _createLock.Release();
        }
    }

    private static string RowKey(DateTimeOffset time) => (DateTimeOffset.MaxValue.UtcTicks - time.UtcTicks).ToString("D19");

    private static TableEntity Entity(AuditRecord r, string partition, string rowKey) => new(partition, rowKey)
    {
        ["Time"] = r.Time,
        ["Actor"] = r.Actor,
        ["Tenant"] = r.Tenant,
        ["Action"] = r.Action,
        ["Target"] = r.Target,
        ["Outcome"] = r.Outcome,
        ["Status"] = r.Status,
        ["SourceIp"] = r.SourceIp,
        ["Count"] = r.Count,
    };

    private static AuditRecord Record(TableEntity e) => new(
        e.GetDateTimeOffset("Time") ?? DateTimeOffset.MinValue,
        e.GetString("Actor") ?? "",
        e.GetString("Tenant"),
        e.GetString("Action") ?? "",
        e.GetString("Target"),
        e.GetString("Outcome") ?? "",
        e.GetInt32("Status") ?? 0,
        e.GetString("SourceIp"),
        e.GetInt32("Count") ?? 1);
}
