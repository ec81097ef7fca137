namespace Inference.ApiHost.Admin;

public sealed record NodeInfo(string Name, string Status, string Version, IReadOnlyDictionary<string, string> Capacity, IReadOnlyDictionary<string, string> Allocatable);

public sealed record NamespaceInfo(string Name, string Status, DateTimeOffset? Created);

public sealed record DeploymentInfo(string Name, string Namespace, int Ready, int Replicas, int Available);

public sealed record SiloInfo(string Address, string Name, string HostName, string Status, DateTimeOffset StartTime);

public sealed record GrainActivations(string GrainType, int Activations);

/// <summary>The Orleans cluster behind the API: what an operator looks at after the Kubernetes side.</summary>
public sealed record OrleansInfo(IReadOnlyList<SiloInfo> Silos, IReadOnlyList<GrainActivations> Activations, int TotalActivations);

public sealed record SystemResponse(
    IReadOnlyList<NodeInfo> Nodes, IReadOnlyList<NamespaceInfo> Namespaces, IReadOnlyList<DeploymentInfo> Deployments, OrleansInfo Orleans);

/// <summary>A tenant as the contract shows it, plus its counts. <see cref="Labelled"/>: the namespace carries the
/// tenant label (false for a namespace known only because it holds models).</summary>
public sealed record TenantInfo(string Name, string Status, DateTimeOffset? Created, int Models, int Publications, bool Labelled);

public sealed record TenantsResponse(IReadOnlyList<TenantInfo> Tenants, int Total);

public sealed record KubectlRequest(string? Command);

public sealed record KubectlResponse(string Result, string Command);
