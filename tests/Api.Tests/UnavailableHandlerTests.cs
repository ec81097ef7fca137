using Inference.ApiHost.Http;

namespace Inference.Api.Tests;

public sealed class UnavailableHandlerTests
{
    [Fact]
    public void A_grain_state_that_changed_under_it_is_a_retry_not_a_server_fault()
    {
        // Seen under `./box chaos` after a storage outage: a create answered 500 where a retry succeeds.
        Assert.True(UnavailableHandler.IsClusterUnavailable(new Orleans.Storage.InconsistentStateException("Table storage condition not Satisfied")));
        Assert.False(UnavailableHandler.IsClusterUnavailable(new InvalidOperationException("a bug")));
    }

    [Fact]
    public void Storage_that_does_not_answer_is_unavailable_and_storage_that_refuses_is_not()
    {
        // Seen under `./box chaos` with Azurite stopped: the SDK's retries end in an AggregateException of refusals.
        var refused = new Azure.RequestFailedException(0, "Connection refused (127.0.0.1:10002)");
        Assert.True(UnavailableHandler.IsClusterUnavailable(new AggregateException("Retry failed after 4 tries.", refused, refused)));
        Assert.False(UnavailableHandler.IsClusterUnavailable(new Azure.RequestFailedException(403, "AuthorizationFailure")));
    }

    [Fact]
    public void A_grain_that_cannot_read_its_state_while_storage_is_away_is_unavailable()
    {
        // Seen in CI's ChaosTests with Azurite stopped: a delete that activated a model's grain answered 500. Orleans wraps
        // the storage provider's failure in an OrleansException ("Error from storage provider ... during ReadStateAsync").
        var refused = new Azure.RequestFailedException(0, "Connection refused (127.0.0.1:10002)");
        Assert.True(UnavailableHandler.IsClusterUnavailable(new Orleans.Runtime.OrleansException(
            "Error from storage provider AzureTableGrainStorage.model during ReadStateAsync for grain model/tenant-a/m",
            new AggregateException("Retry failed after 4 tries.", refused, refused))));
        // A storage provider's failure that is not an outage stays a server fault.
        Assert.False(UnavailableHandler.IsClusterUnavailable(new Orleans.Runtime.OrleansException(
            "Error from storage provider AzureTableGrainStorage.model during ReadStateAsync for grain model/tenant-a/m",
            new Azure.RequestFailedException(403, "AuthorizationFailure"))));
    }

    [Fact]
    public void A_call_that_expired_before_its_grain_could_be_placed_is_unavailable()
    {
        // Seen under `./box chaos` with Azurite stopped: a delete answered 500 with this exception from the cluster.
        Assert.True(UnavailableHandler.IsClusterUnavailable(new OperationCanceledException("Message expired before placement could complete for grain model/tenant-a/m.")));
    }

    [Fact]
    public void A_call_the_cluster_could_not_route_while_its_silos_stop_join_or_leave_is_unavailable()
    {
        // Seen in CI's ChaosTests while the whole box stopped (and in SiloKillUnderLoadTests' stop of every silo): a
        // create and validations answered 500 with this exception, Orleans placement's own when no silo is active.
        Assert.True(UnavailableHandler.IsClusterUnavailable(new Orleans.Runtime.OrleansException(
            "No active nodes are compatible with grain apikey and interface inference.IApiKeyGrain version 0. "
            + "Known nodes with grain type: none. All known nodes compatible with interface version: none")));
        // The grain directory changing hands after a silo joined or left (Orleans' LocalGrainDirectory), as routed.
        Assert.True(UnavailableHandler.IsClusterUnavailable(new Orleans.Runtime.OrleansException(
            "Current directory at S127.0.0.1:11111:1 is not stable to perform the lookup for grainId model/tenant-a/m "
            + "(it maps to S127.0.0.1:11112:2, which is not a valid silo). Retry later.")));
        Assert.True(UnavailableHandler.IsClusterUnavailable(new Orleans.Runtime.OrleansException(
            "Silo S127.0.0.1:11111:1 is not owner of model/tenant-a/m, cannot forward lookup to owner S127.0.0.1:11112:2 because hop limit is reached")));
        // Any other bare OrleansException stays a server fault.
        Assert.False(UnavailableHandler.IsClusterUnavailable(new Orleans.Runtime.OrleansException("Something else went wrong")));
    }

    [Fact]
    public void The_messages_it_recognises_are_those_of_the_orleans_runtime_it_ships_with()
    {
        // They are matched by text (Orleans has no types for them): an Orleans that words them otherwise fails here,
        // not by answering 500 again in an outage.
        var runtime = System.Reflection.Assembly.Load("Orleans.Runtime");
        using var file = File.OpenRead(runtime.Location);
        using var pe = new System.Reflection.PortableExecutable.PEReader(file);
        var metadata = System.Reflection.Metadata.PEReaderExtensions.GetMetadataReader(pe);
        var strings = new List<string>();
        for (var handle = System.Reflection.Metadata.Ecma335.MetadataTokens.UserStringHandle(1); !handle.IsNil;
             handle = System.Reflection.Metadata.Ecma335.MetadataReaderExtensions.GetNextHandle(metadata, handle))
        {
            strings.Add(metadata.GetUserString(handle));
        }
        Assert.All(UnavailableHandler.ClusterInTransition, m => Assert.Contains(strings, s => s.Contains(m, StringComparison.Ordinal)));
    }
}
