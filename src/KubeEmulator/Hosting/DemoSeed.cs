using System.Text.Json.Nodes;
using KubeEmulator.Api;
using KubeEmulator.Resources;
using KubeEmulator.Store;

namespace KubeEmulator.Hosting;

/// <summary>The demo cluster: tenant namespaces, the system namespaces a KServe + Envoy Gateway install has, and two nodes.</summary>
internal static class DemoSeed
{
    public static readonly string[] TenantNamespaces = ["tenant-a", "tenant-b", "tenant-c"];
    private static readonly string[] SystemNamespaces = ["default", "kube-system", "kserve", "envoy-gateway-system"];

    /// <summary>Creates whatever is missing, so it is safe on top of a restored data file.</summary>
    public static void Apply(ResourceStore store, ResourceRegistry registry, EmulatorOptions options)
    {
        foreach (var ns in SystemNamespaces)
            Ensure(store, registry.Namespaces, Namespace(ns, null));
        foreach (var ns in TenantNamespaces)
            Ensure(store, registry.Namespaces, Namespace(ns, options.TenantLabel));
        Ensure(store, registry.Nodes, Node("emulator-node-1", cpu: "8", memory: "32Gi", gpu: null));
        Ensure(store, registry.Nodes, Node("emulator-node-2", cpu: "16", memory: "64Gi", gpu: "1"));
    }

    private static void Ensure(ResourceStore store, ResourceType type, JsonObject obj)
    {
        try
        {
            store.Create(type, null, obj, keepStatus: true);
        }
        catch (ApiException e) when (e.Reason == "AlreadyExists")
        {
            // Restored from the data file; keep the persisted object.
        }
    }

    private static JsonObject Namespace(string name, string? tenantLabel)
    {
        var labels = new JsonObject();
        if (tenantLabel is not null) labels[tenantLabel] = "true";
        return new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Namespace",
            ["metadata"] = new JsonObject { ["name"] = name, ["labels"] = labels },
        };
    }

    private static JsonObject Node(string name, string cpu, string memory, string? gpu)
    {
        JsonObject Resources()
        {
            var r = new JsonObject { ["cpu"] = cpu, ["memory"] = memory, ["pods"] = "110", ["ephemeral-storage"] = "100Gi" };
            if (gpu is not null) r["nvidia.com/gpu"] = gpu;
            return r;
        }
        return new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Node",
            ["metadata"] = new JsonObject
            {
                ["name"] = name,
                ["labels"] = new JsonObject
                {
                    ["kubernetes.io/hostname"] = name,
                    ["kubernetes.io/os"] = "linux",
                    ["kubernetes.io/arch"] = "amd64",
                    ["node.kubernetes.io/instance-type"] = "emulated",
                },
            },
            ["spec"] = new JsonObject { ["podCIDR"] = name.EndsWith('1') ? "10.244.1.0/24" : "10.244.2.0/24" },
            ["status"] = new JsonObject
            {
                ["capacity"] = Resources(),
                ["allocatable"] = Resources(),
                ["conditions"] = new JsonArray(new JsonObject
                {
                    ["type"] = "Ready",
                    ["status"] = "True",
                    ["reason"] = "KubeletReady",
                    ["message"] = "kubelet is posting ready status (emulated)",
                    ["lastHeartbeatTime"] = Json.JsonTree.Now(),
                    ["lastTransitionTime"] = Json.JsonTree.Now(),
                }),
                ["addresses"] = new JsonArray(
                    new JsonObject { ["type"] = "InternalIP", ["address"] = name.EndsWith('1') ? "172.18.0.2" : "172.18.0.3" },
                    new JsonObject { ["type"] = "Hostname", ["address"] = name }),
                ["nodeInfo"] = new JsonObject
                {
                    ["kubeletVersion"] = KubeVersion.GitVersion,
                    ["kubeProxyVersion"] = KubeVersion.GitVersion,
                    ["containerRuntimeVersion"] = "containerd://2.0.0",
                    ["osImage"] = "Emulated Linux",
                    ["kernelVersion"] = "6.8.0",
                    ["operatingSystem"] = "linux",
                    ["architecture"] = "amd64",
                    ["machineID"] = "",
                    ["systemUUID"] = "",
                    ["bootID"] = "",
                },
            },
        };
    }
}
