using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Inference.Silo;

/// <summary>
/// Bounds a process's shutdown by <see cref="ClusterSettings.ShutdownTimeout"/>, whatever is down. The first half
/// is the graceful stop (HostOptions.ShutdownTimeout: grains deactivate, key leases go back); then the host cancels
/// and Orleans stops without waiting. Orleans still retries its own membership-status writes at that point
/// (Stopping, then Dead) with limits of its own of a minute each, which no option shortens (MaxJoinAttemptTime
/// would, but it also bounds a silo's start-up), and with storage gone they never succeed: so when the bound is
/// reached the process exits. A silo that exits so is declared dead by the others' probes, as after a crash.
/// </summary>
public sealed class ShutdownBound(IHostApplicationLifetime lifetime, IOptions<ShutdownBound.Settings> settings, ILogger<ShutdownBound> logger,
    TimeProvider time) : IHostedService, IDisposable
{
    /// <summary>The exit code when the bound cut the shutdown short.</summary>
    public const int ExitCode = 3;

    private CancellationTokenRegistration _stopping;
    private ITimer? _timer;

    public sealed class Settings
    {
        public TimeSpan Bound { get; set; }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _stopping = lifetime.ApplicationStopping.Register(() =>
            _timer = time.CreateTimer(_ => Exit(), null, settings.Value.Bound, Timeout.InfiniteTimeSpan));
        return Task.CompletedTask;
    }

    private void Exit()
    {
        logger.LogCritical("Shutdown still running after {Bound}; exiting without waiting for the rest", settings.Value.Bound);
        Environment.Exit(ExitCode);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose()
    {
        _stopping.Dispose();
        _timer?.Dispose();
    }
}

public static class ShutdownBoundExtensions
{
    /// <summary>Graceful stop for half of <see cref="ClusterSettings.ShutdownTimeout"/>, exit at the whole.</summary>
    public static IServiceCollection AddShutdownBound(this IServiceCollection services, ClusterSettings settings)
    {
        services.Configure<HostOptions>(o => o.ShutdownTimeout = settings.ShutdownTimeout / 2);
        services.Configure<ShutdownBound.Settings>(o => o.Bound = settings.ShutdownTimeout);
        services.TryAddSingleton(TimeProvider.System);
        services.AddHostedService<ShutdownBound>();
        return services;
    }
}
