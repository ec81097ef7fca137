using Inference.ApiHost.Keys;
using Inference.Grains.Abstractions.Keys;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Metrics;

namespace Inference.Api.Tests;

public sealed class ValidationMetricsTests
{
    [Fact]
    public void Counting_and_timing_a_validation_allocates_nothing_while_OpenTelemetry_collects()
    {
        // As the hosts listen (Telemetry): to this host's meter only, not to the other test hosts' of the same name.
        var exported = new List<Metric>();
        var builder = Host.CreateApplicationBuilder();
        builder.Metrics.EnableMetrics(KeyLeases.MeterName, instrumentName: null, listenerName: "OpenTelemetry");
        builder.Services.AddOpenTelemetry().WithMetrics(m => m.AddInMemoryExporter(exported));
        builder.Services.AddSingleton<ValidationMetrics>();
        using var host = builder.Build();
        host.Start();
        var metrics = host.Services.GetRequiredService<ValidationMetrics>();
        var provider = host.Services.GetRequiredService<MeterProvider>();

        var outcomes = Enum.GetValues<KeyOutcome>();
        void Workload()
        {
            foreach (var outcome in outcomes)
            {
                metrics.Decided(outcome, ValidationMetrics.DecidedBy.Lease, metrics.Start());
                metrics.Decided(outcome, ValidationMetrics.DecidedBy.Grain, metrics.Start());
            }
            metrics.SourceLimited(ValidationMetrics.DecidedBy.Signature, metrics.Start());
            metrics.BadRequest(metrics.Start());
            metrics.Missing(metrics.Start());
        }

        Workload(); // the first of each tag combination takes its slot in the aggregator
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            Workload();
        }
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);

        provider.ForceFlush();
        var points = exported.Single(m => m.Name == "inference.key_validation.validations");
        long total = 0;
        foreach (ref readonly var point in points.GetMetricPoints())
        {
            total += point.GetSumLong();
        }
        Assert.Equal(1001 * (Enum.GetValues<KeyOutcome>().Length * 2 + 3), total);
        // Every one of them timed too.
        var timed = exported.Single(m => m.Name == "inference.key_validation.duration");
        long count = 0;
        foreach (ref readonly var point in timed.GetMetricPoints())
        {
            count += point.GetHistogramCount();
        }
        Assert.Equal(total, count);
    }
}
