using Inference.Grains.Abstractions.Events;
using Microsoft.Extensions.Logging;

namespace Inference.Grains.Events;

/// <summary>The one way a grain announces a change. Call it after the change is durable (after
/// <c>WriteStateAsync</c>), with the resource's new view:
/// <code>await GrainFactory.PublishChangeAsync(ChangeTypes.ModelUpdated, tenant, "model", name, view, time.GetUtcNow(), logger);</code>
/// Awaiting it keeps one grain's events in the order it made the changes. Delivery is best effort: a failure is
/// logged and swallowed, because the change itself already succeeded, and clients recover anything missed by
/// re-reading over REST when they reconnect. Views passed here must never contain a full API key.</summary>
public static class ChangeFeed
{
    public static async Task PublishChangeAsync(this IGrainFactory grains, string type, string tenant, string kind,
        string name, ChangeResource? resource, DateTimeOffset time, ILogger logger)
    {
        try
        {
            await grains.GetGrain<ITenantEventsGrain>(tenant)
                .PublishAsync(new ChangeEvent(type, tenant, kind, name, time, 0, resource));
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Publishing {Type} for {Tenant}/{Name} failed; stream clients will see it on their next REST read", type, tenant, name);
        }
    }
}
