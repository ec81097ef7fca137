namespace Inference.Grains.Gateway;

/// <summary>Where the gateway objects of publications live and how they reach this service's key validation.</summary>
public sealed class GatewayOptions
{
    public const string Section = "Gateway";

    /// <summary>Namespace holding every publication's gateway objects (Envoy Gateway's own by default).</summary>
    public string Namespace { get; set; } = "envoy-gateway-system";

    /// <summary>The Gateway the routes attach to (in <see cref="Namespace"/>).</summary>
    public string GatewayName { get; set; } = "inference-gateway";

    /// <summary>The Kubernetes Service of this management API, which the SecurityPolicy's external authorization calls.</summary>
    public string AuthServiceName { get; set; } = "inference-management";

    public string AuthServiceNamespace { get; set; } = "inference-system";

    public int AuthServicePort { get; set; } = 8085;

    /// <summary>A second port of the same Service, named in the SecurityPolicy as a fallback backend (Envoy Gateway sends
    /// the external authorization there only while <see cref="AuthServicePort"/> has too few healthy endpoints): the
    /// API's own port, which serves the same validation. The chart sets it, as <see cref="AuthServicePort"/> is the key
    /// validation port, which only API hosts started with it serve: a policy written during an upgrade that adds the
    /// port (or turns it on), before any such API host is Ready, is then answered by the other API hosts instead of
    /// refused. Unset: one backend.</summary>
    public int? AuthServiceFallbackPort { get; set; }

    public string AuthPath { get; set; } = "/api/validate-api-key";

    public string? Problem() =>
        string.IsNullOrWhiteSpace(Namespace) ? $"{Section}__Namespace must name the namespace of the publications' gateway objects."
        : string.IsNullOrWhiteSpace(GatewayName) ? $"{Section}__GatewayName must name the Gateway the routes attach to."
        : string.IsNullOrWhiteSpace(AuthServiceName) || string.IsNullOrWhiteSpace(AuthServiceNamespace)
            ? $"{Section}__AuthServiceName and {Section}__AuthServiceNamespace must name this API's Service."
        : AuthServicePort is < 1 or > 65535 ? $"{Section}__AuthServicePort must be a port (1-65535)."
        : AuthServiceFallbackPort is < 1 or > 65535 || AuthServiceFallbackPort == AuthServicePort
            ? $"{Section}__AuthServiceFallbackPort must be a port (1-65535) other than {Section}__AuthServicePort, or unset."
        : !AuthPath.StartsWith('/') ? $"{Section}__AuthPath must be an absolute path such as /api/validate-api-key."
        : null;
}
