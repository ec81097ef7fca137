using Azure.Data.Tables;
using Inference.Grains;
using Inference.Grains.Abstractions.Events;
using Inference.Grains.Abstractions.Models;
using Inference.TestSupport;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Providers;
using Orleans.Storage;
using Orleans.TestingHost;

namespace Inference.Grains.Tests;

/// <summary>Two in-process silos with grain state in Azurite and the Kubernetes emulator behind them.</summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    private const string AzureState = "azure-state";

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public EmulatorHost Emulator { get; private set; } = null!;

    public IGrainFactory Grains => Cluster.Client;

    /// <summary>The epoch of the silo holding the cluster watch (waited for until one holds it): what its hand-overs
    /// carry, so a test handing a Model grain an observation itself is not fenced as a superseded holder.</summary>
    public async Task<long> WatchEpochAsync() => (await WatchLeaseAsync()).Epoch;

    /// <summary>The cluster watch's lease, once a silo has taken it, renewed for its holder: an activation collection
    /// (which tests force) takes the lease's expiry with the lease grain's activation, and whichever silo asks next
    /// takes the lease over and lists again; renewed, it stays with its holder while the test runs.</summary>
    public async Task<WatchLeaseGrant> WatchLeaseAsync()
    {
        var grain = Grains.GetGrain<IWatchLeaseGrain>(IWatchLeaseGrain.ClusterWatch);
        while (true)
        {
            var lease = await TestEnvironment.Eventually(grain.GetAsync, lease => lease.Epoch > 0,
                what: "a silo to hold the cluster watch");
            if (await grain.TryAcquireAsync(lease.Holder!, TimeSpan.FromSeconds(15)) == lease.Epoch)
            {
                return lease;
            }
        }
    }

    public async Task InitializeAsync()
    {
        Emulator = await EmulatorHost.StartAsync();
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["KUBECONFIG"] = Emulator.KubeconfigPath,
                // A failing object is retried soon after it heals, so tests that heal one need not wait long.
                ["Kubernetes:WatchRetryMax"] = "00:00:02",
            })
            .Build();
        var table = TestEnvironment.UniqueTablePrefix() + "grains";
        var builder = new InProcessTestClusterBuilder(2);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddAzureTableGrainStorage(AzureState, o =>
            {
                o.TableServiceClient = new TableServiceClient(TestEnvironment.StorageConnectionString);
                o.TableName = table;
            });
            // Grains use the Azure table storage through a wrapper that can fail a named grain's writes.
            silo.Services.AddKeyedSingleton<IGrainStorage>(StorageNames.State,
                (services, _) => new FailingStorage(services.GetRequiredKeyedService<IGrainStorage>(AzureState)));
            silo.AddIncomingGrainCallFilter<StalledEvents>();
            silo.AddMemoryStreams(ChangeStreams.Provider);
            silo.AddMemoryGrainStorage(ProviderConstants.DEFAULT_PUBSUB_PROVIDER_NAME);
            silo.Services.AddInferenceGrains(configuration);
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async Task DisposeAsync()
    {
        await Cluster.DisposeAsync();
        await Emulator.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster";
}
