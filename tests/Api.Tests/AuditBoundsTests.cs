using System.Net;
using Azure.Data.Tables;
using Inference.ApiHost.Audit;
using Inference.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Api.Tests;

/// <summary>A host with a small per-caller audit bound; loopback is a trusted proxy, so failed logins can come from
/// distinct clients without locking the tests out.</summary>
public sealed class AuditBoundsFixture : ApiFixture
{
    public const int PerCaller = 5;

    protected override void Configure(IDictionary<string, string?> settings)
    {
        settings["Audit:MaxRecordsPerCallerPerMinute"] = PerCaller.ToString();
        settings["Proxies:Trusted:0"] = "127.0.0.1";
    }
}

public sealed class AuditBoundsTests(AuditBoundsFixture api) : IClassFixture<AuditBoundsFixture>
{
    private static int Count(System.Text.Json.Nodes.JsonNode r) => r["count"]!.GetValue<int>();

    [Fact]
    public async Task Failed_logins_are_one_row_per_source_and_minute_with_a_count()
    {
        var source = "198.51.100." + Random.Shared.Next(20, 250);
        var client = api.Client();
        for (var i = 0; i < 12; i++)
        {
            var login = new HttpRequestMessage(HttpMethod.Post, "/api/admin/login")
            {
                Content = System.Net.Http.Json.JsonContent.Create(new { username = $"user{i}", password = "wrong" }),
                Headers = { { "X-Forwarded-For", source } },
            };
            var status = (await client.SendAsync(login)).StatusCode;
            Assert.True(status is HttpStatusCode.Unauthorized or HttpStatusCode.TooManyRequests, $"attempt {i}: {(int)status}");
        }
        var rows = (await AuditReads.All(api.Admin(), "/api/admin/audit?action=admin.login.failed"))
            .Where(r => r["sourceIp"]?.GetValue<string>() == source).ToList();
        // Twelve failures are one row, or two when a minute ended while they arrived.
        Assert.InRange(rows.Count, 1, 2);
        Assert.Equal(12, rows.Sum(Count));
    }

    [Fact]
    public async Task A_caller_past_its_bound_is_aggregated_not_written_row_by_row()
    {
        var subject = $"noisy-{Guid.NewGuid():N}";
        var tenant = api.Client(api.Tokens.Tenant("tenant-q", subject));
        const int changes = AuditBoundsFixture.PerCaller + 10;
        for (var i = 0; i < changes; i++)
        {
            await (await tenant.PutJson($"/api/models/missing{i}", new { maxReplicas = 2 })).AssertError(HttpStatusCode.NotFound);
        }
        // One record a page: the continuation tokens then name aggregated rows too.
        var rows = (await AuditReads.All(tenant, "/api/audit?action=model.update&limit=1")).Where(r => r.Str("actor") == subject).ToList();
        Assert.Equal(changes, rows.Sum(Count));
        // At most the bound one by one in each of (at most two) minutes, and the rest as counted rows.
        Assert.True(rows.Count <= 2 * (AuditBoundsFixture.PerCaller + 1), $"{rows.Count} rows");
        Assert.Contains(rows, r => Count(r) > 1 && r.Target() is null);
        Assert.True(api.Services.GetRequiredService<TableAuditLog>().Aggregated >= changes - 2 * AuditBoundsFixture.PerCaller);
    }

    [Fact]
    public async Task Records_past_the_retention_are_not_returned_and_the_sweep_deletes_them()
    {
        var log = api.Services.GetRequiredService<TableAuditLog>();
        var tenant = "ret-" + Guid.NewGuid().ToString("N")[..8];
        var now = DateTimeOffset.UtcNow;
        await log.WriteAsync(new AuditRecord(now.AddDays(-91), $"old-{tenant}", tenant, "model.create", $"{tenant}/old", "success", 201, "127.0.0.1"));
        await log.WriteAsync(new AuditRecord(now.AddDays(-89), $"kept-{tenant}", tenant, "model.create", $"{tenant}/kept", "success", 201, "127.0.0.1"));

        var visible = await AuditReads.All(api.Admin(), $"/api/admin/audit?tenant={tenant}");
        Assert.Equal([$"{tenant}/kept"], visible.Select(r => r.Target()));

        Assert.True(await log.SweepAsync(CancellationToken.None) >= 2); // the old record, in its tenant's and the all-tenants partition
        var table = new TableServiceClient(TestEnvironment.StorageConnectionString).GetTableClient($"{api.TablePrefix}audit");
        var stored = table.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {tenant}"));
        var targets = new List<string?>();
        await foreach (var e in stored)
        {
            targets.Add(e.GetString("Target"));
        }
        Assert.Equal([$"{tenant}/kept"], targets);
    }
}
