using System.Globalization;
using System.Text.Json.Nodes;
using KubeEmulator.Json;
using KubeEmulator.Resources;

namespace KubeEmulator.Tables;

/// <summary>
/// The columns of each kind: a CRD's <c>additionalPrinterColumns</c> (after Name), the columns kube-apiserver's
/// printers give the built-in kinds kubectl users look at most, and Name and Created At for the rest (the apiserver's
/// default table convertor).
/// </summary>
internal static class ColumnSets
{
    private static readonly TableColumn Name = new("Name", "string", "name", TableColumn.NameDescription, 0, (o, _) => Meta(o, "name"));
    private static readonly TableColumn Age = new("Age", "string", "", "CreationTimestamp is a timestamp representing the server time when this object was created.", 0, (o, now) => AgeOf(o, now));

    public static IReadOnlyList<TableColumn> For(ResourceType type, string version)
    {
        if (type.IsCustom)
        {
            if (!type.PrinterColumns.TryGetValue(version, out var declared)) return [Name, Age];
            return [Name, .. declared.OfType<JsonObject>().Select(CrdColumn)];
        }
        return type.Kind switch
        {
            "Pod" =>
            [
                Name,
                new("Ready", "string", "", "The aggregate readiness state of this pod for accepting traffic.", 0, (o, _) => PodReady(o)),
                new("Status", "string", "", "The aggregate status of the containers in this pod.", 0, (o, _) => PodStatus(o)),
                new("Restarts", "string", "", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.", 0,
                    (o, _) => Statuses(o).Sum(s => JsonTree.Long(s["restartCount"]) ?? 0).ToString(CultureInfo.InvariantCulture)),
                Age,
                new("IP", "string", "", "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.", 1, (o, _) => Str(o["status"]?["podIP"]) ?? "<none>"),
                new("Node", "string", "", "NodeName is a request to schedule this pod onto a specific node.", 1, (o, _) => Str(o["spec"]?["nodeName"]) ?? "<none>"),
            ],
            "Node" =>
            [
                Name,
                new("Status", "string", "", "The status of the node", 0, (o, _) => NodeStatus(o)),
                new("Roles", "string", "", "The roles of the node", 0, (o, _) => NodeRoles(o)),
                Age,
                new("Version", "string", "", "Kubelet Version reported by the node.", 0, (o, _) => Str(o["status"]?["nodeInfo"]?["kubeletVersion"]) ?? ""),
                new("Internal-IP", "string", "", "List of addresses reachable to the node. Queried from cloud provider, if available.", 1, (o, _) => NodeAddress(o, "InternalIP")),
                new("External-IP", "string", "", "List of addresses reachable to the node. Queried from cloud provider, if available.", 1, (o, _) => NodeAddress(o, "ExternalIP")),
            ],
            "Deployment" =>
            [
                Name,
                new("Ready", "string", "", "Number of the pod with ready state", 0,
                    (o, _) => $"{JsonTree.Long(o["status"]?["readyReplicas"]) ?? 0}/{JsonTree.Long(o["spec"]?["replicas"]) ?? 0}"),
                new("Up-to-date", "integer", "", "Total number of non-terminated pods targeted by this deployment that have the desired template spec.", 0,
                    (o, _) => JsonTree.Long(o["status"]?["updatedReplicas"]) ?? 0),
                new("Available", "integer", "", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.", 0,
                    (o, _) => JsonTree.Long(o["status"]?["availableReplicas"]) ?? 0),
                Age,
                new("Containers", "string", "", "Names of each container in the template.", 1, (o, _) => Containers(o, "name")),
                new("Images", "string", "", "Images referenced by each container in the template.", 1, (o, _) => Containers(o, "image")),
            ],
            "Service" =>
            [
                Name,
                new("Type", "string", "", "type determines how the Service is exposed.", 0, (o, _) => Str(o["spec"]?["type"]) ?? "ClusterIP"),
                new("Cluster-IP", "string", "", "clusterIP is the IP address of the service.", 0, (o, _) => Str(o["spec"]?["clusterIP"]) ?? "<none>"),
                new("External-IP", "string", "", "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.", 0, (o, _) => ExternalIps(o)),
                new("Port(s)", "string", "", "The list of ports that are exposed by this service.", 0, (o, _) => Ports(o)),
                Age,
                new("Selector", "string", "", "Route service traffic to pods with label keys and values matching this selector.", 1, (o, _) => Selector(o)),
            ],
            "Namespace" =>
            [
                Name,
                new("Status", "string", "", "The status of the namespace", 0, (o, _) => Str(o["status"]?["phase"]) ?? ""),
                Age,
            ],
            "ConfigMap" => [Name, new("Data", "string", "", "Data contains the configuration data.", 0, (o, _) => (long)Count(o, "data") + Count(o, "binaryData")), Age],
            "Secret" =>
            [
                Name,
                new("Type", "string", "", "Used to facilitate programmatic handling of secret data.", 0, (o, _) => Str(o["type"]) ?? "Opaque"),
                new("Data", "string", "", "Data contains the secret data.", 0, (o, _) => (long)Count(o, "data")),
                Age,
            ],
            _ =>
            [
                Name,
                new("Created At", "date", "", "CreationTimestamp is a timestamp representing the server time when this object was created.", 0, (o, _) => Meta(o, "creationTimestamp")),
            ],
        };
    }

    private static TableColumn CrdColumn(JsonObject declared)
    {
        var type = Str(declared["type"]) ?? "string";
        var path = Str(declared["jsonPath"]) ?? "";
        return new TableColumn(Str(declared["name"]) ?? "", type, Str(declared["format"]) ?? "", Str(declared["description"]) ?? "",
            (int)(JsonTree.Long(declared["priority"]) ?? 0), (o, now) => CrdCell(o, path, type, now));
    }

    /// <summary>As apiextensions' table convertor: no value is null, a date is shown as an age, several are joined.</summary>
    private static JsonNode? CrdCell(JsonObject obj, string path, string type, DateTimeOffset now)
    {
        var values = JsonPath.Find(obj, path).Where(v => v is not null).ToList();
        if (values.Count == 0) return null;
        if (values.Count > 1) return string.Join(' ', values.Select(v => Str(v) ?? v!.ToJsonString()));
        var value = values[0]!;
        if (type == "date" && Str(value) is { } text && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at))
            return HumanDuration.Since(at, now);
        return value is JsonValue ? value.DeepClone() : value.ToJsonString();
    }

    private static JsonNode? Meta(JsonObject o, string field) => o["metadata"]?[field]?.DeepClone();

    private static JsonNode? AgeOf(JsonObject o, DateTimeOffset now) =>
        Str(o["metadata"]?["creationTimestamp"]) is { } text && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at)
            ? HumanDuration.Since(at, now)
            : "<unknown>";

    private static string? Str(JsonNode? node) => JsonTree.Str(node);

    private static IEnumerable<JsonObject> Statuses(JsonObject pod) => (pod["status"]?["containerStatuses"] as JsonArray)?.OfType<JsonObject>() ?? [];

    private static string PodReady(JsonObject pod)
    {
        var total = (pod["spec"]?["containers"] as JsonArray)?.Count ?? 0;
        var ready = Statuses(pod).Count(s => s["ready"] is JsonValue v && v.TryGetValue<bool>(out var b) && b);
        return $"{ready}/{total}";
    }

    /// <summary>The printer's rule, shortened: Terminating when deleted, a waiting or terminated reason, else the phase.</summary>
    private static string PodStatus(JsonObject pod)
    {
        if (pod["metadata"]?["deletionTimestamp"] is not null) return "Terminating";
        foreach (var status in Statuses(pod))
        {
            if (Str(status["state"]?["waiting"]?["reason"]) is { Length: > 0 } waiting) return waiting;
            if (Str(status["state"]?["terminated"]?["reason"]) is { Length: > 0 } terminated) return terminated;
        }
        return Str(pod["status"]?["reason"]) ?? Str(pod["status"]?["phase"]) ?? "Unknown";
    }

    private static string NodeStatus(JsonObject node)
    {
        var ready = (node["status"]?["conditions"] as JsonArray)?.OfType<JsonObject>().FirstOrDefault(c => Str(c["type"]) == "Ready");
        var status = ready is null ? "Unknown" : Str(ready["status"]) == "True" ? "Ready" : "NotReady";
        if (node["spec"]?["unschedulable"] is JsonValue u && u.TryGetValue<bool>(out var cordoned) && cordoned) status += ",SchedulingDisabled";
        return status;
    }

    private static string NodeRoles(JsonObject node)
    {
        const string prefix = "node-role.kubernetes.io/";
        var roles = (node["metadata"]?["labels"] as JsonObject)?.Select(p => p.Key).Where(k => k.StartsWith(prefix, StringComparison.Ordinal))
            .Select(k => k[prefix.Length..]).Where(r => r.Length > 0).Order(StringComparer.Ordinal).ToList() ?? [];
        return roles.Count == 0 ? "<none>" : string.Join(',', roles);
    }

    private static string NodeAddress(JsonObject node, string type) =>
        (node["status"]?["addresses"] as JsonArray)?.OfType<JsonObject>().Where(a => Str(a["type"]) == type).Select(a => Str(a["address"])).FirstOrDefault() ?? "<none>";

    private static string Containers(JsonObject deployment, string field) =>
        string.Join(',', (deployment["spec"]?["template"]?["spec"]?["containers"] as JsonArray)?.OfType<JsonObject>().Select(c => Str(c[field])) ?? []);

    private static string ExternalIps(JsonObject service)
    {
        var ips = (service["spec"]?["externalIPs"] as JsonArray)?.Select(Str).OfType<string>().ToList() ?? [];
        if (Str(service["spec"]?["type"]) == "LoadBalancer")
            ips.AddRange((service["status"]?["loadBalancer"]?["ingress"] as JsonArray)?.OfType<JsonObject>().Select(i => Str(i["ip"]) ?? Str(i["hostname"])).OfType<string>() ?? []);
        if (Str(service["spec"]?["type"]) == "ExternalName") return Str(service["spec"]?["externalName"]) ?? "<none>";
        return ips.Count == 0 ? (Str(service["spec"]?["type"]) == "LoadBalancer" ? "<pending>" : "<none>") : string.Join(',', ips);
    }

    private static string Ports(JsonObject service)
    {
        var ports = (service["spec"]?["ports"] as JsonArray)?.OfType<JsonObject>().Select(p =>
        {
            var protocol = Str(p["protocol"]) ?? "TCP";
            return JsonTree.Long(p["nodePort"]) is { } nodePort ? $"{JsonTree.Long(p["port"])}:{nodePort}/{protocol}" : $"{JsonTree.Long(p["port"])}/{protocol}";
        }).ToList() ?? [];
        return ports.Count == 0 ? "<none>" : string.Join(',', ports);
    }

    private static string Selector(JsonObject service) =>
        service["spec"]?["selector"] is JsonObject selector && selector.Count > 0
            ? string.Join(',', selector.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={Str(p.Value)}"))
            : "<none>";

    private static int Count(JsonObject o, string field) => (o[field] as JsonObject)?.Count ?? 0;
}
