using Inference.ApiHost.Models;
using Inference.ApiHost.Publishing;
using Inference.ApiHost.Realtime;
using Inference.Grains.Abstractions.Events;
using Inference.Grains.Abstractions.Models;
using Inference.Grains.Abstractions.Publishing;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace Inference.Api.Tests;

/// <summary>The payloads a change event may carry form a closed, typed set: each crosses the silo boundary through
/// the Orleans serializer as itself, and each has the REST mapping clients see on /ws.</summary>
public sealed class ChangeResourceTests
{
    private static readonly DateTimeOffset At = new(2024, 5, 1, 12, 0, 0, TimeSpan.Zero);

    private static readonly ModelView Model = new("m", "tenant-a", "Ready", true, "http://m/v1/models/m:predict",
        new ModelSpec("sklearn", "s3://b/m", 1, 2), At, At, "Ready", new ReplicaCounts(1, 1, 1),
        [new ModelCondition("Ready", "True", null, null, At)]);

    private static readonly PublishedModelView Publication = new("m", "tenant-a",
        new PublishConfig(ModelTypes.Traditional, "/models/m", "api.example.test", new RateLimits(60, 1000, 0, 10), true, [], new Dictionary<string, string>()),
        "https://api.example.test/models/m", "iib_...abcd", "active", At, At, new UsageCounters(3, 2, 1, At),
        [new GatewayObjectRef("HTTPRoute", "tenant-a", "m")], null);

    private static readonly UsageSummary Usage = new("m", "tenant-a", new UsageCounters(3, 2, 1, At));

    /// <summary>Every concrete payload type, with the REST shape it renders as.</summary>
    private static readonly (ChangeResource Sample, Type Rendered)[] Samples =
    [
        (Model, typeof(ModelResponse)),
        (Publication, typeof(PublishedModelResponse)),
        (Usage, typeof(UsageSummaryResponse)),
    ];

    [Fact]
    public void Every_payload_type_has_a_sample_here_and_renders_in_its_REST_shape()
    {
        var payloadTypes = typeof(ChangeResource).Assembly.GetTypes()
            .Where(t => t.IsSubclassOf(typeof(ChangeResource)) && !t.IsAbstract)
            .OrderBy(t => t.FullName).ToList();
        Assert.Equal(payloadTypes, Samples.Select(s => s.Sample.GetType()).OrderBy(t => t.FullName));
        foreach (var (sample, rendered) in Samples)
        {
            Assert.IsType(rendered, EventMessage.Render(sample));
        }
        Assert.Null(EventMessage.Render(null));
    }

    [Fact]
    public void Events_cross_the_serializer_with_their_payload_typed()
    {
        Assert.Equal(typeof(ChangeResource), typeof(ChangeEvent).GetProperty(nameof(ChangeEvent.Resource))!.PropertyType);
        using var services = new ServiceCollection().AddSerializer().BuildServiceProvider();
        var serializer = services.GetRequiredService<Serializer>();
        foreach (var (sample, _) in Samples)
        {
            var sent = new ChangeEvent(ChangeTypes.ModelUpdated, "tenant-a", "model", "m", At, 7, sample);
            var received = serializer.Deserialize<ChangeEvent>(serializer.SerializeToArray(sent))!;
            Assert.Equal(sample.GetType(), received.Resource!.GetType());
            // Records compare collections by reference; the JSON clients see is what must survive.
            Assert.Equal(System.Text.Json.JsonSerializer.Serialize(EventMessage.From(sent), Inference.ApiHost.Http.ApiJson.Options),
                System.Text.Json.JsonSerializer.Serialize(EventMessage.From(received), Inference.ApiHost.Http.ApiJson.Options));
        }
    }
}
