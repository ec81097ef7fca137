using Inference.ApiHost.Keys;
using Inference.Grains.Abstractions.Keys;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace Inference.Api.Tests;

public sealed class ValidationMetricsTests
{
    [Fact]
    public void Counting_a_validation_allocates_nothing_while_OpenTelemetry_collects()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var metrics = new ValidationMetrics(services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());
        var exported = new List<Metric>();
        using var provider = Sdk.CreateMeterProviderBuilder().AddMeter(KeyLeases.MeterName).AddInMemoryExporter(exported).Build();

        var outcomes = Enum.GetValues<KeyOutcome>();
        void Workload()
        {
            foreach (var outcome in outcomes)
            {
                metrics.Decided(outcome, ValidationMetrics.DecidedBy.Lease);
                metrics.Decided(outcome, ValidationMetrics.DecidedBy.Grain);
            }
            metrics.SourceLimited(ValidationMetrics.DecidedBy.Signature);
            metrics.BadRequest();
            metrics.Missing();
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
    }
}
