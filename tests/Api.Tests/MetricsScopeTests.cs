using System.Globalization;
using Inference.ApiHost.Keys;
using Inference.Silo;
using Inference.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Exporter;

namespace Inference.Api.Tests;

/// <summary>Each host serves its own series only, however many hosts share the process (the tests run many): another
/// host's identical instruments neither add to this host's figures nor end them when that host stops.</summary>
public sealed class MetricsScopeTests
{
    private const string ValidationSeries = "inference_key_validation_validations_total{";

    private sealed class Host : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly int _metricsPort = TestEnvironment.FreePort();

        public Host(Dictionary<string, string?>? settings = null)
        {
            var builder = WebApplication.CreateBuilder();
            builder.Configuration.AddInMemoryCollection(settings ?? []);
            builder.WebHost.UseUrls($"http://127.0.0.1:{TestEnvironment.FreePort()}");
            builder.Configuration[Telemetry.MetricsPortSetting] = _metricsPort.ToString(CultureInfo.InvariantCulture);
            builder.AddInferenceTelemetry("metrics-scope-test");
            builder.Services.AddSingleton<ValidationMetrics>();
            // Every scrape collects afresh, so a count is read exactly when it is asked for.
            builder.Services.Configure<PrometheusAspNetCoreOptions>(o => o.ScrapeResponseCacheDurationMilliseconds = 0);
            _app = builder.Build();
            _app.UseMetricsPort();
        }

        public ValidationMetrics Validations => _app.Services.GetRequiredService<ValidationMetrics>();

        public Task StartAsync() => _app.StartAsync();

        public async Task<Dictionary<string, double>> ScrapeAsync()
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_metricsPort}") };
            return await TelemetryFixture.Scrape(client);
        }

        public async Task<double> MissingAsync()
        {
            var samples = await ScrapeAsync();
            return samples.Where(s => s.Key.StartsWith(ValidationSeries, StringComparison.Ordinal)
                && s.Key.Contains("outcome=\"missing\"", StringComparison.Ordinal)).Sum(s => s.Value);
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_host_serves_only_its_own_series_and_another_host_stopping_ends_none_of_them()
    {
        await using var mine = new Host();
        var other = new Host();
        try
        {
            await mine.StartAsync();
            await other.StartAsync();
            for (var i = 0; i < 3; i++)
            {
                mine.Validations.Missing(started: 0);
            }
            for (var i = 0; i < 5; i++)
            {
                other.Validations.Missing(started: 0);
            }
            Assert.Equal(3, await mine.MissingAsync());
            Assert.Equal(5, await other.MissingAsync());
        }
        finally
        {
            await other.DisposeAsync();
        }

        mine.Validations.Missing(started: 0);
        Assert.Equal(4, await mine.MissingAsync());
    }

    [Theory]
    [InlineData("Inference.KeyValidation", "inference_key_validation")]
    // A name the service enables itself: the configuration's rule must not lose to the service's own.
    [InlineData("Inference", "inference_")]
    public async Task A_meter_is_turned_off_by_the_standard_metrics_setting(string meter, string seriesPrefix)
    {
        await using var host = new Host(new() { [$"Metrics:OpenTelemetry:EnabledMetrics:{meter}"] = "false" });
        await host.StartAsync();
        host.Validations.Missing(host.Validations.Start());
        var samples = await host.ScrapeAsync();
        Assert.DoesNotContain(samples.Keys, k => k.StartsWith(seriesPrefix, StringComparison.Ordinal));
        Assert.Contains(samples.Keys, k => k.StartsWith("dotnet_", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Kestrels_memory_pool_meter_is_served_only_when_asked_for()
    {
        const string MemoryPool = "aspnetcore_memory_pool_";
        await using (var host = new Host())
        {
            await host.StartAsync();
            await host.ScrapeAsync();
            var samples = await host.ScrapeAsync();
            Assert.DoesNotContain(samples.Keys, k => k.StartsWith(MemoryPool, StringComparison.Ordinal));
            // The rest of ASP.NET Core's meters are served: the first scrape is a request and a connection.
            Assert.Contains(samples.Keys, k => k.StartsWith("http_server_request_duration_seconds", StringComparison.Ordinal));
            Assert.Contains(samples.Keys, k => k.StartsWith("kestrel_", StringComparison.Ordinal));
        }

        await using (var host = new Host(new() { ["Metrics:OpenTelemetry:EnabledMetrics:Microsoft.AspNetCore.MemoryPool"] = "true" }))
        {
            await host.StartAsync();
            await host.ScrapeAsync();
            var samples = await host.ScrapeAsync();
            Assert.Contains(samples.Keys, k => k.StartsWith(MemoryPool, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task A_setting_for_one_instrument_leaves_the_rest_of_its_meter_on()
    {
        await using var host = new Host(new()
        {
            // A meter name the service enables itself, with one instrument under it.
            ["Metrics:OpenTelemetry:EnabledMetrics:Inference:inference.key_validation.duration"] = "false",
        });
        await host.StartAsync();
        host.Validations.Missing(host.Validations.Start());
        var samples = await host.ScrapeAsync();
        Assert.DoesNotContain(samples.Keys, k => k.StartsWith("inference_key_validation_duration", StringComparison.Ordinal));
        Assert.Contains(samples.Keys, k => k.StartsWith(ValidationSeries, StringComparison.Ordinal));
    }
}
