using System.Net;

namespace Inference.ApiHost.Keys;

public sealed class KeyValidationOptions
{
    public const string Section = "KeyValidation";

    /// <summary>Failed validations one source may cause per minute before it is refused outright (429).</summary>
    public int FailuresPerMinute { get; set; } = 100;

    /// <summary>Proxies (the gateway) whose <c>X-Forwarded-For</c> names the real source; from anyone else the
    /// header is ignored, so a caller cannot pick its own identity to dodge the failure limit.</summary>
    public List<string> TrustedProxies { get; set; } = [];

    internal HashSet<IPAddress> TrustedProxyAddresses() =>
        [.. TrustedProxies.Select(p => IPAddress.Parse(p.Trim()))];
}
