namespace Inference.ApiHost.Admin.Kubectl;

/// <summary>A resource kind the console may read. <see cref="Group"/> is empty for the core API.</summary>
public sealed record KubeResource(string Plural, string Kind, string Group, string Version, bool Namespaced, IReadOnlyList<string> Aliases)
{
    public string ApiVersion => Group.Length == 0 ? Version : $"{Group}/{Version}";

    /// <summary>How kubectl names an object of this kind in <c>-o name</c>: "pod/x", "deployment.apps/x".</summary>
    public string NamePrefix => Group.Length == 0 ? Kind.ToLowerInvariant() : $"{Kind.ToLowerInvariant()}.{Group}";

    public bool IsCustom => Group.Length > 0 && Group != "apps";

    public static readonly IReadOnlyList<KubeResource> All =
    [
        new("pods", "Pod", "", "v1", true, ["po", "pod"]),
        new("deployments", "Deployment", "apps", "v1", true, ["deploy", "deployment"]),
        new("services", "Service", "", "v1", true, ["svc", "service"]),
        new("namespaces", "Namespace", "", "v1", false, ["ns", "namespace"]),
        new("nodes", "Node", "", "v1", false, ["no", "node"]),
        new("inferenceservices", "InferenceService", "serving.kserve.io", "v1beta1", true, ["isvc", "inferenceservice"]),
        new("httproutes", "HTTPRoute", "gateway.networking.k8s.io", "v1", true, ["httproute"]),
        new("backendtrafficpolicies", "BackendTrafficPolicy", "gateway.envoyproxy.io", "v1alpha1", true, ["btp", "backendtrafficpolicy"]),
        new("securitypolicies", "SecurityPolicy", "gateway.envoyproxy.io", "v1alpha1", true, ["sp", "securitypolicy"]),
        new("aigatewayroutes", "AIGatewayRoute", "aigateway.envoyproxy.io", "v1alpha1", true, ["aigatewayroute"]),
    ];

    /// <summary>Kinds that exist but hold secrets or arbitrary configuration, so the console refuses them by name.</summary>
    public static readonly IReadOnlySet<string> Forbidden = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "secret", "secrets", "configmap", "configmaps", "cm", "serviceaccount", "serviceaccounts", "sa",
    };

    public static KubeResource? Find(string name)
    {
        // kubectl also accepts the fully qualified "plural.group" form.
        var lower = name.ToLowerInvariant();
        return All.FirstOrDefault(r => r.Plural == lower || r.Aliases.Contains(lower)
            || (r.Group.Length > 0 && (lower == $"{r.Plural}.{r.Group}" || lower == $"{r.Kind.ToLowerInvariant()}.{r.Group}")));
    }

    public static string AllowedList => string.Join(", ", All.Select(r => r.Aliases.Count > 0 && r.Aliases[0].Length < r.Plural.Length - 1
        ? $"{r.Plural} ({r.Aliases[0]})" : r.Plural));
}
