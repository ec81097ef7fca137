namespace Inference.Grains.Abstractions.Events;

/// <summary>The single publisher of one tenant's change stream (key = the tenant): it stamps each event with the
/// stream's next sequence number and publishes it, so numbering and publication order are the same thing.</summary>
[Alias("inference.ITenantEventsGrain")]
public interface ITenantEventsGrain : IGrainWithStringKey
{
    /// <summary>Numbers and publishes the event (its <see cref="ChangeEvent.Sequence"/> is ignored) and returns
    /// the number it got.</summary>
    [Alias("Publish")]
    Task<long> PublishAsync(ChangeEvent change);
}
