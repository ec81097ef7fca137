using Inference.Grains.Abstractions.Publishing;

namespace Inference.Shared.Publishing;

public static class PublishUrls
{
    /// <summary>Where callers reach a publication through the gateway.</summary>
    public static string ExternalUrl(PublishConfig c) => $"https://{c.PublicHostname}{c.ExternalPath.TrimEnd('/')}";
}
