using Inference.Grains.Abstractions.Models;
using Inference.Grains.Abstractions.Publishing;
using Inference.Grains.Models;
using Inference.Grains.Publishing;
using Inference.Shared.Models;

namespace Inference.Grains.Tests;

/// <summary>Every rule matches the whole value: in .NET, '$' also matches before a final newline.</summary>
public sealed class AnchoredRulesTests
{
    [Theory]
    [InlineData("iris\n")]
    [InlineData("iris\r\n")]
    public void A_final_newline_fails_every_name_and_route_rule(string suffix)
    {
        Assert.NotNull(ModelRules.CheckName("iris" + suffix[4..]));
        Assert.False(ModelRules.IsNamespace("tenant-a" + suffix[4..]));
        var good = PublishRules.Resolve("iris", new ModelSpec("sklearn", "s3://b/m"), new PublishSpec(null, null, null, null, true, [], new Dictionary<string, string>(), null));
        Assert.True(good.IsSuccess);
        var config = good.Value!;
        Assert.NotNull(PublishRules.Check(config with { ExternalPath = config.ExternalPath + suffix[4..] }));
        Assert.NotNull(PublishRules.Check(config with { PublicHostname = config.PublicHostname + suffix[4..] }));
    }
}
