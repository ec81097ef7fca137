using Microsoft.Extensions.Options;

namespace Inference.ApiHost.Audit;

/// <summary>Writes the audit's aggregated rows as they grow and sweeps expired records, on every API host (a sweep
/// is bounded and idempotent, so hosts sweeping at once only share the work).</summary>
public sealed class AuditMaintenance(TableAuditLog audit, IOptions<AuditOptions> options, TimeProvider time, ILogger<AuditMaintenance> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        using var timer = new PeriodicTimer(settings.FlushInterval, time);
        var nextSweep = time.GetUtcNow() + settings.SweepInterval;
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await audit.FlushAsync();
                    if (time.GetUtcNow() >= nextSweep)
                    {
                        nextSweep = time.GetUtcNow() + settings.SweepInterval;
                        var deleted = await audit.SweepAsync(stoppingToken);
                        if (deleted > 0)
                        {
                            logger.LogInformation("Audit sweep deleted {Count} records older than {Retention}", deleted, settings.Retention);
                        }
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // Storage unavailable: the next tick tries again; aggregated counts wait in memory meanwhile.
                    logger.LogWarning(e, "Audit maintenance failed; retrying at the next interval");
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        await audit.FlushAsync();
    }
}
