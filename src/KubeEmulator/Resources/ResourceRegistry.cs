using System.Reflection;
using System.Text.Json.Nodes;
using KubeEmulator.Json;
using KubeEmulator.OpenApi;
using KubeEmulator.Validation;

namespace KubeEmulator.Resources;

/// <summary>The resources the emulator serves: a fixed set of built-in kinds plus every CRD embedded under Crds/.</summary>
internal sealed class ResourceRegistry
{
    public const string KServeGroup = "serving.kserve.io";

    // Parsing ~3 MB of CRD YAML is the slowest part of start-up; the compiled result is immutable, so share it.
    private static readonly Lazy<IReadOnlyList<ResourceType>> EmbeddedCrds = new(LoadEmbeddedCrds);

    private readonly Dictionary<(string Group, string Version, string Plural), ResourceType> _byPath = new();

    public ResourceRegistry()
    {
        All = BuiltIns().Concat(EmbeddedCrds.Value).ToList();
        foreach (var type in All)
            foreach (var (version, _) in type.Versions)
                _byPath[(type.Group, version, type.Plural)] = type;
    }

    public IReadOnlyList<ResourceType> All { get; }

    public ResourceType? Find(string group, string version, string plural) =>
        _byPath.GetValueOrDefault((group, version, plural));

    public ResourceType Get(string group, string plural) =>
        All.First(t => t.Group == group && t.Plural == plural);

    /// <summary>Resolves the resource of a stored object from its apiVersion and kind (used when loading a data file).</summary>
    public ResourceType? FindByKind(string apiVersion, string kind)
    {
        var group = apiVersion.Contains('/') ? apiVersion[..apiVersion.IndexOf('/')] : "";
        return All.FirstOrDefault(t => t.Group == group && t.Kind == kind);
    }

    public ResourceType Namespaces => Get("", "namespaces");
    public ResourceType Nodes => Get("", "nodes");
    public ResourceType Pods => Get("", "pods");
    public ResourceType Services => Get("", "services");
    public ResourceType Deployments => Get("apps", "deployments");
    public ResourceType InferenceServices => Get(KServeGroup, "inferenceservices");

    /// <summary>
    /// The built-in kinds served: those the management service, the Orleans Kubernetes hosting and the Helm chart
    /// use. Their shape (and whether they have a status) comes from the published OpenAPI definitions.
    /// </summary>
    private static IEnumerable<ResourceType> BuiltIns()
    {
        var spec = KubernetesOpenApi.Instance;
        ResourceType Kind(string group, string version, string plural, string kind, bool ns, params string[] shortNames)
        {
            var definition = spec.DefinitionOf(group, version, kind)
                ?? throw new InvalidOperationException($"no OpenAPI definition for {group}/{version} {kind}");
            return new ResourceType
            {
                Group = group, Plural = plural, Singular = kind.ToLowerInvariant(), Kind = kind, Namespaced = ns,
                HasStatus = spec.Definitions[definition]["properties"]?["status"] is not null,
                IsCustom = false, Versions = [(version, null)], ShortNames = shortNames, OpenApiDefinition = definition,
            };
        }
        yield return Kind("", "v1", "namespaces", "Namespace", false, "ns");
        yield return Kind("", "v1", "nodes", "Node", false, "no");
        yield return Kind("", "v1", "pods", "Pod", true, "po");
        yield return Kind("", "v1", "services", "Service", true, "svc");
        yield return Kind("", "v1", "configmaps", "ConfigMap", true, "cm");
        yield return Kind("", "v1", "secrets", "Secret", true);
        yield return Kind("", "v1", "serviceaccounts", "ServiceAccount", true, "sa");
        yield return Kind("apps", "v1", "deployments", "Deployment", true, "deploy");
        yield return Kind("rbac.authorization.k8s.io", "v1", "roles", "Role", true);
        yield return Kind("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", true);
        yield return Kind("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", false);
        yield return Kind("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", false);
        yield return Kind("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true, "pdb");
        yield return Kind("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", true, "netpol");
        yield return Kind("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", true, "hpa");
    }

    private static IReadOnlyList<ResourceType> LoadEmbeddedCrds()
    {
        var assembly = Assembly.GetExecutingAssembly();
        return assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith("KubeEmulator.Crds.", StringComparison.Ordinal) && n.EndsWith(".yaml", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .AsParallel().AsOrdered()
            .Select(name =>
            {
                using var stream = assembly.GetManifestResourceStream(name)!;
                using var reader = new StreamReader(stream);
                return FromCrd((JsonObject)YamlJson.Parse(reader.ReadToEnd())!);
            })
            .ToList();
    }

    /// <summary>Builds a resource from a CustomResourceDefinition (apiextensions.k8s.io/v1).</summary>
    public static ResourceType FromCrd(JsonObject crd)
    {
        var spec = (JsonObject)crd["spec"]!;
        var names = (JsonObject)spec["names"]!;
        var versions = ((JsonArray)spec["versions"]!).OfType<JsonObject>()
            .Where(v => v["served"]?.GetValue<bool>() == true)
            .OrderByDescending(v => v["storage"]?.GetValue<bool>() == true)
            .ToList();
        return new ResourceType
        {
            Group = JsonTree.Str(spec["group"])!,
            Plural = JsonTree.Str(names["plural"])!,
            Singular = JsonTree.Str(names["singular"]) ?? JsonTree.Str(names["kind"])!.ToLowerInvariant(),
            Kind = JsonTree.Str(names["kind"])!,
            Namespaced = JsonTree.Str(spec["scope"]) != "Cluster",
            HasStatus = versions.Any(v => v["subresources"]?["status"] is not null),
            IsCustom = true,
            ShortNames = names["shortNames"] is JsonArray sn ? sn.Select(JsonTree.Str).OfType<string>().ToArray() : [],
            Versions = versions.Select(v => (
                JsonTree.Str(v["name"])!,
                v["schema"]?["openAPIV3Schema"] is JsonObject schema ? StructuralSchema.Compile(schema) : null)).ToList(),
            CrdSchemas = versions.Where(v => v["schema"]?["openAPIV3Schema"] is JsonObject)
                .ToDictionary(v => JsonTree.Str(v["name"])!, v => (JsonObject)v["schema"]!["openAPIV3Schema"]!),
            PrinterColumns = versions.Where(v => v["additionalPrinterColumns"] is JsonArray)
                .ToDictionary(v => JsonTree.Str(v["name"])!, v => (JsonArray)v["additionalPrinterColumns"]!),
        };
    }
}
