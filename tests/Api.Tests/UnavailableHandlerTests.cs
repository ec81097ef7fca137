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
}
