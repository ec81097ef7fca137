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
}
