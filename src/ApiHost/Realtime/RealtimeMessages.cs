using Inference.Grains.Abstractions.Publishing;
using Inference.ApiHost.Models;
using Inference.Grains.Abstractions.Events;
using Inference.Grains.Abstractions.Models;

namespace Inference.ApiHost.Realtime;

/// <summary>A change as a /ws client receives it.</summary>
public sealed record EventMessage(string Type, string Tenant, string Kind, string Name, DateTimeOffset Time, long Sequence, object? Resource)
{
    public static EventMessage From(ChangeEvent e) =>
        new(e.Type, e.Tenant, e.Kind, e.Name, e.Time, e.Sequence, Render(e.Resource));

    /// <summary>The resource in the shape its REST endpoint returns, through the same mapping. A view type without
    /// a mapping here is left out rather than serialized raw, so nothing reaches clients unreviewed.</summary>
    public static object? Render(ChangeResource? resource) => resource switch
    {
        ModelView model => ModelResponse.From(model),
        PublishedModelView publication => Publishing.PublishedModelResponse.From(publication, withDocumentation: false),
        UsageSummary usage => Publishing.UsageSummaryResponse.From(usage),
        _ => null,
    };
}

/// <summary>Messages from the server itself: <c>subscribed</c> once events will flow, <c>heartbeat</c> when idle,
/// <c>resync</c> (with a reason) when events may have been lost while the socket stayed open: re-read over REST.</summary>
public sealed record ControlMessage(string Type, DateTimeOffset Time, string? Scope = null, string? Model = null, string? Reason = null)
{
    public const string Subscribed = "subscribed";
    public const string Heartbeat = "heartbeat";
    public const string Resync = "resync";
}
