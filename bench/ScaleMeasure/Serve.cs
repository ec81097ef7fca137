using System.Collections.Concurrent;
using System.Diagnostics;
using Inference.ApiHost;
using Inference.ApiHost.Keys;
using Inference.Grains.Abstractions.Keys;
using Inference.Grains.Abstractions.Publishing;
using Inference.Grains.Abstractions.Tenants;
using Inference.ApiHost.Models;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;

namespace Inference.Bench.ScaleMeasure;

/// <summary><c>serve</c>: the real API host in embedded mode (API host and silo in one process, as <c>./box up</c>
/// runs it; configured from the environment the driver sets), plus a control listener on another loopback port that
/// reads what only the process itself can: its GC heap after a forced full collection, its CPU time, its grain
/// activations, when the cluster watch finished its lists, and that seeds API keys through the key grains.</summary>
public static class Serve
{
    public static async Task<int> RunAsync()
    {
        var control = int.Parse(Environment.GetEnvironmentVariable("SCALE_CONTROL_PORT") ?? throw new InvalidOperationException("SCALE_CONTROL_PORT is not set"));
        var watchLog = new WatchLog();
        var app = ApiHostApp.Build([], builder =>
        {
            builder.Logging.AddProvider(watchLog);
            builder.Logging.AddFilter<WatchLog>(WatchLog.Category, LogLevel.Information);
        });
        await app.StartAsync();

        var controlBuilder = WebApplication.CreateSlimBuilder();
        controlBuilder.Logging.ClearProviders();
        controlBuilder.WebHost.UseUrls($"http://127.0.0.1:{control}");
        var controlApp = controlBuilder.Build();
        var grains = app.Services.GetRequiredService<IGrainFactory>();
        var signer = app.Services.GetRequiredService<ApiKeySigner>();
        var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        controlApp.MapGet("/heap", () =>
        {
            // Twice, with finalizers in between: what a finalizer frees is collected by the second pass.
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            return Results.Json(new HeapReading(GC.GetTotalMemory(false), Environment.WorkingSet, Cpu()));
        });
        controlApp.MapGet("/cpu", () => Results.Json(Cpu()));
        controlApp.MapGet("/watch", () => Results.Json(watchLog.Lines.ToArray()));
        controlApp.MapGet("/grains", async () =>
        {
            var stats = await grains.GetGrain<IManagementGrain>(0).GetSimpleGrainStatistics();
            return Results.Json(stats.GroupBy(s => s.GrainType).ToDictionary(g => g.Key, g => g.Sum(s => s.ActivationCount)));
        });
        controlApp.MapPost("/keys", async (int count, int? concurrency) =>
        {
            // The publication's own call (PublishedModelGrain.PublishAsync issues its key with IssueAsync): the key's
            // grain writes its record to storage before answering. Keys minted by the host's own signer, so the gateway
            // check accepts them as any published key.
            var keys = new string[count];
            var next = -1;
            var limits = new RateLimits(1_000_000, 2_000_000_000, 0, 1_000_000);
            await Task.WhenAll(Enumerable.Range(0, concurrency ?? 32).Select(async _ =>
            {
                for (var i = Interlocked.Increment(ref next); i < count; i = Interlocked.Increment(ref next))
                {
                    var key = signer.Create();
                    await grains.GetGrain<IApiKeyGrain>(key.Hash).IssueAsync(
                        new KeyGrant($"keys-{i % 100}", $"m{i}", limits, null, UsageCounters.Zero));
                    keys[i] = key.FullKey;
                }
            }));
            return Results.Text(string.Join('\n', keys));
        });
        controlApp.MapGet("/profile/models", async () =>
        {
            // Where the admin list's time goes, read inside the process: the tenant directory, the tenant grains'
            // calls at several fan-outs (from here, as the listing grain makes them), the listing grain as a whole,
            // and turning its answer into the contract's JSON.
            var json = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions>>().Value.SerializerOptions;
            var figures = new List<ProfileFigure>();
            async Task<T> Time<T>(string what, Func<Task<T>> step)
            {
                var allocated = GC.GetTotalAllocatedBytes();
                var start = Stopwatch.GetTimestamp();
                var result = await step();
                figures.Add(new ProfileFigure(what, Stopwatch.GetElapsedTime(start).TotalMilliseconds, (GC.GetTotalAllocatedBytes() - allocated) / 1024.0));
                return result;
            }
            var tenants = await Time("tenant directory", () => grains.GetGrain<ITenantDirectoryGrain>(0).ListAsync());
            foreach (var limit in new[] { 1, 8, 64, 256 })
            {
                await Time($"{tenants.Count} tenant grains' ListModels, {limit} at a time", async () =>
                {
                    using var gate = new SemaphoreSlim(limit);
                    await Task.WhenAll(tenants.Select(async t =>
                    {
                        await gate.WaitAsync();
                        try
                        {
                            return await grains.GetGrain<ITenantGrain>(t).ListModelsAsync(null, int.MaxValue);
                        }
                        finally
                        {
                            gate.Release();
                        }
                    }));
                    return true;
                });
            }
            var listed = await Time("listing grain: every model", async () => (await grains.GetGrain<ITenantListingGrain>(0).ListModelsAsync(null, int.MaxValue)).Items);
            var answer = await Time($"{listed.Count} views -> contract records", () =>
            {
                var views = listed.Select(ModelResponse.From).ToList();
                return Task.FromResult(new ModelListResponse(views, views.Count));
            });
            var counter = new CountingStream();
            await Time("JSON into a stream", async () =>
            {
                await System.Text.Json.JsonSerializer.SerializeAsync(counter, answer, json);
                return true;
            });
            figures.Add(new ProfileFigure($"JSON size {counter.Length / 1024.0:0} KiB", 0, 0));
            return Results.Json(figures);
        });
        controlApp.MapPost("/stop", () =>
        {
            lifetime.StopApplication();
            return Results.Ok();
        });
        await controlApp.StartAsync();
        Console.WriteLine($"serve: API host and control listener up (pid {Environment.ProcessId})");
        await app.WaitForShutdownAsync();
        await controlApp.StopAsync();
        await app.DisposeAsync();
        return 0;
    }

    private static double Cpu() => Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
}

public sealed record ProfileFigure(string What, double Ms, double AllocatedKiB);

/// <summary>Counts what is written and keeps none of it.</summary>
public sealed class CountingStream : Stream
{
    private long _length;

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => _length;

    public override long Position { get => _length; set => throw new NotSupportedException(); }

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => _length += count;

    public override void Write(ReadOnlySpan<byte> buffer) => _length += buffer.Length;

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        _length += buffer.Length;
        return ValueTask.CompletedTask;
    }
}

public sealed record HeapReading(long Heap, long WorkingSet, double CpuSeconds);

public sealed record WatchLine(DateTimeOffset At, string Message);

/// <summary>Keeps the cluster watch's information lines ("holds the cluster watch", "Listed N ..."), with when they
/// were written, for the driver to time the list and resync.</summary>
public sealed class WatchLog : ILoggerProvider, ILogger
{
    public const string Category = "Inference.Grains.Kubernetes.ClusterWatchService";

    public ConcurrentQueue<WatchLine> Lines { get; } = new();

    public ILogger CreateLogger(string categoryName) => categoryName == Category ? this : Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Lines.Enqueue(new WatchLine(DateTimeOffset.UtcNow, formatter(state, exception)));

    public void Dispose()
    {
    }
}
