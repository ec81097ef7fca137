namespace Inference.Grains.Abstractions.Events;

/// <summary>One change to one resource, as it travels on a tenant's change stream and out to WebSocket clients.</summary>
/// <param name="Type">What happened, e.g. <c>model.created</c>; see <see cref="ChangeTypes"/>.</param>
/// <param name="Tenant">The namespace the resource lives in; also the stream the event travels on.</param>
/// <param name="Kind">The resource kind: <c>model</c>, <c>publishedModel</c>, <c>apiKey</c>, <c>usage</c>.</param>
/// <param name="Name">The resource's name within the tenant (for a published model or key: the model's name).</param>
/// <param name="Time">When the owning grain made the change.</param>
/// <param name="Sequence">Position on the tenant's stream: strictly increasing, assigned by the tenant's
/// <see cref="ITenantEventsGrain"/>; may jump after a silo failure, never goes back.</param>
/// <param name="Resource">The resource's new state as one of the views a change may carry (see
/// <see cref="ChangeResource"/>); the API host renders it with the same mapping its REST endpoints use, so clients
/// see the REST shape. Null for a deletion where no state remains. Never carries a full API key: views hold masked
/// keys only.</param>
[GenerateSerializer, Immutable, Alias("inference.ChangeEvent")]
public sealed record ChangeEvent(
    [property: Id(0)] string Type,
    [property: Id(1)] string Tenant,
    [property: Id(2)] string Kind,
    [property: Id(3)] string Name,
    [property: Id(4)] DateTimeOffset Time,
    [property: Id(5)] long Sequence,
    [property: Id(6)] ChangeResource? Resource);

/// <summary>What a change event may carry: the views that derive from this (ModelView, PublishedModelView,
/// UsageSummary). A closed set, so the serializer knows every payload and the API host has a REST mapping for each;
/// a new kind of resource derives from it and adds its mapping next to the others.</summary>
[GenerateSerializer, Immutable, Alias("inference.ChangeResource")]
public abstract record ChangeResource;

/// <summary>The event type names clients switch on. New kinds add their names here.</summary>
public static class ChangeTypes
{
    public const string ModelCreated = "model.created";
    public const string ModelUpdated = "model.updated";
    public const string ModelStatusChanged = "model.status";
    public const string ModelDeleted = "model.deleted";

    // Publications and keys (wired by the PublishedModel/ApiKey grains).
    public const string ModelPublished = "model.published";
    public const string PublicationUpdated = "model.publication-updated";
    public const string ModelUnpublished = "model.unpublished";
    public const string KeyRotated = "apikey.rotated";
    public const string UsageSummary = "usage.summary";
}

/// <summary>Names shared by publishers (grains) and subscribers (the API host).</summary>
public static class ChangeStreams
{
    /// <summary>The Orleans stream provider carrying change events.</summary>
    public const string Provider = "events";

    /// <summary>Stream namespace; the stream key is the tenant, or <see cref="AllTenants"/>.</summary>
    public const string Namespace = "tenant-events";

    /// <summary>Key of the stream that carries every tenant's events (for admins watching everything). Not a valid
    /// namespace name, so it can never collide with a tenant.</summary>
    public const string AllTenants = "*";
}
