namespace Inference.Grains.Abstractions.Publishing;

/// <summary>One publication of a model; key <c>{namespace}/{name}</c>, the same as its model.</summary>
[Alias("inference.IPublishedModelGrain")]
public interface IPublishedModelGrain : IGrainWithStringKey
{
    /// <summary>Publishes with a key minted by the caller; the view carries the full key (the only time).</summary>
    [Alias("Publish")]
    Task<Result<PublishedModelView>> PublishAsync(PublishSpec spec, NewApiKey key);

    [Alias("Update")]
    Task<Result<PublishedModelView>> UpdateAsync(PublishPatch patch);

    [Alias("Get"), ReadOnly]
    Task<Result<PublishedModelView>> GetAsync();

    /// <summary>Removes the gateway objects and revokes the key; NotFound when not published.</summary>
    [Alias("Unpublish")]
    Task<Result<bool>> UnpublishAsync();

    [Alias("RotateKey")]
    Task<Result<RotatedKey>> RotateKeyAsync(NewApiKey key, TimeSpan gracePeriod);

    /// <summary>The publication's usage over time, from its key's grain; NotFound when not published.</summary>
    [Alias("GetUsageSeries"), ReadOnly]
    Task<Result<Keys.UsageSeries>> GetUsageSeriesAsync(Keys.UsageWindow window);
}
