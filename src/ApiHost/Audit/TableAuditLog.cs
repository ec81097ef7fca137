using Azure;
using Azure.Data.Tables;
using Inference.Silo;

namespace Inference.ApiHost.Audit;

/// <summary>The audit trail in the Azure table <c>{TablePrefix}audit</c> of the grain-storage account, so it
/// survives restarts of any process and is shared by every API host of a cluster. Each record is written twice:
/// in its tenant's partition (a tenant's trail is one partition scan) and in the <see cref="AllPartition"/> (the
/// admin's cross-tenant view, equally cheap). RowKeys are inverted ticks, so a partition reads newest first.</summary>
public sealed class TableAuditLog(ClusterSettings settings, ILogger<TableAuditLog> logger) : IAuditLog
{
    /// <summary>Not a DNS label, so no tenant can collide with it.</summary>
    public const string AllPartition = "~all";

    private readonly TableClient _table = new TableServiceClient(settings.StorageConnectionString).GetTableClient(settings.AuditTable);
    private readonly SemaphoreSlim _createLock = new(1, 1);
    private volatile bool _created;

    public async Task WriteAsync(AuditRecord record)
    {
        try
        {
            await EnsureTableAsync();
            var rowKey = RowKey(record.Time) + "-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4));
            var writes = new List<Task> { _table.AddEntityAsync(Entity(record, AllPartition, rowKey)) };
            if (!string.IsNullOrEmpty(record.Tenant))
            {
                writes.Add(_table.AddEntityAsync(Entity(record, record.Tenant, rowKey)));
            }
            await Task.WhenAll(writes);
        }
        catch (Exception e) when (e is RequestFailedException or HttpRequestException or OperationCanceledException)
        {
            // The audited change has already happened; failing its response would hide it from the caller. The
            // record goes to the log instead, where operators alert on it.
            logger.LogError(e, "Audit record could not be stored: {Time} {Actor} {Tenant} {Action} {Target} {Outcome} {Status} {Source}",
                record.Time, record.Actor, record.Tenant, record.Action, record.Target, record.Outcome, record.Status, record.SourceIp);
        }
    }

    public async Task<AuditPage> QueryAsync(AuditQuery query, CancellationToken cancellationToken)
    {
        await EnsureTableAsync();
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {query.Tenant ?? AllPartition}");
        if (query.Action is { } action)
        {
            filter += " and " + TableClient.CreateQueryFilter($"Action eq {action}");
        }
        if (query.To is { } to)
        {
            filter += " and " + TableClient.CreateQueryFilter($"RowKey ge {RowKey(to)}");
        }
        if (query.From is { } from)
        {
            // '~' sorts after the '-suffix' of every row key with this time prefix.
            filter += " and " + TableClient.CreateQueryFilter($"RowKey lt {RowKey(from) + "~"}");
        }
        if (query.ContinuationToken is { } token)
        {
            // Our own token, not the storage's: the row key of the last record shown, which is checked to be one
            // before it reaches storage (a storage token that is not one continues nowhere, an empty page).
            if (!IsRowKey(token))
            {
                throw new FormatException("Not a continuation token of the audit trail");
            }
            filter += " and " + TableClient.CreateQueryFilter($"RowKey gt {token}");
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

    private static bool IsRowKey(string value) =>
        value.Length == 28 && value[19] == '-' && value.AsSpan(0, 19).IndexOfAnyExceptInRange('0', '9') < 0
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
    };

    private static AuditRecord Record(TableEntity e) => new(
        e.GetDateTimeOffset("Time") ?? DateTimeOffset.MinValue,
        e.GetString("Actor") ?? "",
        e.GetString("Tenant"),
        e.GetString("Action") ?? "",
        e.GetString("Target"),
        e.GetString("Outcome") ?? "",
        e.GetInt32("Status") ?? 0,
        e.GetString("SourceIp"));
}
