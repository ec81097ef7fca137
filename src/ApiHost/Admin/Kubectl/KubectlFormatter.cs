using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using YamlDotNet.Serialization;

namespace Inference.ApiHost.Admin.Kubectl;

/// <summary>kubectl's output formats: the column tables of <c>get</c> (and <c>-o wide</c>), <c>describe</c>'s
/// indented key/values, and json/yaml documents.</summary>
public static class KubectlFormatter
{
    private const string None = "<none>";

    private static readonly JsonSerializerOptions Indented = new()
    {
        WriteIndented = true,
        IndentSize = 4,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private static readonly ISerializer YamlSerializer = new SerializerBuilder().WithQuotingNecessaryStrings().Build();

    public static string Json(JsonNode document) => document.ToJsonString(Indented);

    public static string Yaml(JsonNode document) => YamlSerializer.Serialize(Plain(document)).TrimEnd('\n');

    public static string Table(KubeResource resource, IReadOnlyList<JsonObject> objects, bool withNamespace, bool wide, DateTimeOffset now)
    {
        var (headers, row) = Columns(resource, wide, now);
        if (withNamespace)
        {
            headers = ["NAMESPACE", .. headers];
        }
        var rows = objects.Select(o =>
        {
            var cells = row(o);
            return withNamespace ? [Str(o, "metadata", "namespace") ?? "", .. cells] : cells;
        }).ToList();
        return Align(headers, rows);
    }

    /// <summary>Columns as kubectl's tabwriter lays them out: each as wide as its widest cell plus three spaces.</summary>
    public static string Align(string[] headers, IReadOnlyList<string[]> rows)
    {
        var all = new List<string[]> { headers };
        all.AddRange(rows);
        var widths = headers.Select((_, i) => all.Max(r => r[i].Length)).ToArray();
        var text = new StringBuilder();
        foreach (var r in all)
        {
            for (var i = 0; i < r.Length; i++)
            {
                text.Append(i == r.Length - 1 ? r[i] : r[i].PadRight(widths[i] + 3));
            }
            text.Append('\n');
        }
        return text.ToString().TrimEnd('\n');
    }

    private static (string[] Headers, Func<JsonObject, string[]> Row) Columns(KubeResource resource, bool wide, DateTimeOffset now)
    {
        string Age(JsonObject o) => Ages.Since(Str(o, "metadata", "creationTimestamp"), now);
        string Name(JsonObject o) => Str(o, "metadata", "name") ?? "";
        return resource.Plural switch
        {
            "pods" => (wide
                    ? ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
                    : ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
                o =>
                {
                    var statuses = Arr(o, "status", "containerStatuses");
                    var total = Arr(o, "spec", "containers").Count;
                    var ready = statuses.Count(s => s?["ready"]?.GetValue<bool>() == true);
                    var restarts = statuses.Sum(s => s?["restartCount"]?.GetValue<int>() ?? 0);
                    string[] cells = [Name(o), $"{ready}/{total}", PodStatus(o, statuses), restarts.ToString(CultureInfo.InvariantCulture), Age(o)];
                    return wide ? [.. cells, Str(o, "status", "podIP") ?? None, Str(o, "spec", "nodeName") ?? None, None, None] : cells;
                }),
            "deployments" => (wide
                    ? ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
                    : ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
                o =>
                {
                    string[] cells = [Name(o), $"{Int(o, "status", "readyReplicas")}/{Int(o, "spec", "replicas")}",
                        Int(o, "status", "updatedReplicas").ToString(CultureInfo.InvariantCulture),
                        Int(o, "status", "availableReplicas").ToString(CultureInfo.InvariantCulture), Age(o)];
                    if (!wide)
                    {
                        return cells;
                    }
                    var containers = Arr(o, "spec", "template", "spec", "containers");
                    return [.. cells, string.Join(',', containers.Select(c => c?["name"]?.GetValue<string>())),
                        string.Join(',', containers.Select(c => c?["image"]?.GetValue<string>())),
                        Labels(o["spec"]?["selector"]?["matchLabels"] as JsonObject, None)];
                }),
            "services" => (wide
                    ? ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"]
                    : ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
                o =>
                {
                    var ports = Arr(o, "spec", "ports").Select(p => p?["nodePort"] is { } node
                        ? $"{p["port"]}:{node}/{p["protocol"] ?? "TCP"}"
                        : $"{p?["port"]}/{p?["protocol"] ?? "TCP"}");
                    var external = Arr(o, "status", "loadBalancer", "ingress").Select(i => i?["ip"]?.GetValue<string>() ?? i?["hostname"]?.GetValue<string>()).ToList();
                    string[] cells = [Name(o), Str(o, "spec", "type") ?? "ClusterIP", Str(o, "spec", "clusterIP") ?? None,
                        external.Count > 0 ? string.Join(',', external) : None, Or(string.Join(',', ports)), Age(o)];
                    return wide ? [.. cells, Labels(o["spec"]?["selector"] as JsonObject, None)] : cells;
                }),
            "namespaces" => (["NAME", "STATUS", "AGE"], o => [Name(o), Str(o, "status", "phase") ?? "Active", Age(o)]),
            "nodes" => (wide
                    ? ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"]
                    : ["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
                o =>
                {
                    var ready = Arr(o, "status", "conditions").Any(c => c?["type"]?.GetValue<string>() == "Ready" && c["status"]?.GetValue<string>() == "True");
                    var roles = (o["metadata"]?["labels"] as JsonObject)?.Select(l => l.Key)
                        .Where(k => k.StartsWith("node-role.kubernetes.io/", StringComparison.Ordinal))
                        .Select(k => k["node-role.kubernetes.io/".Length..]).ToList() ?? [];
                    string[] cells = [Name(o), ready ? "Ready" : "NotReady", roles.Count > 0 ? string.Join(',', roles) : None, Age(o),
                        Str(o, "status", "nodeInfo", "kubeletVersion") ?? ""];
                    if (!wide)
                    {
                        return cells;
                    }
                    string Address(string type) => Arr(o, "status", "addresses")
                        .FirstOrDefault(a => a?["type"]?.GetValue<string>() == type)?["address"]?.GetValue<string>() ?? None;
                    return [.. cells, Address("InternalIP"), Address("ExternalIP"), Str(o, "status", "nodeInfo", "osImage") ?? "",
                        Str(o, "status", "nodeInfo", "kernelVersion") ?? "", Str(o, "status", "nodeInfo", "containerRuntimeVersion") ?? ""];
                }),
            "inferenceservices" => (["NAME", "URL", "READY", "AGE"], o =>
                [Name(o), Str(o, "status", "url") ?? "", Condition(o, "Ready") ?? "", Age(o)]),
            "httproutes" => (["NAME", "HOSTNAMES", "AGE"], o =>
                [Name(o), Arr(o, "spec", "hostnames") is { Count: > 0 } h ? h.ToJsonString() : "", Age(o)]),
            "aigatewayroutes" => (["NAME", "STATUS", "AGE"], o =>
                [Name(o), Arr(o, "status", "conditions").LastOrDefault()?["type"]?.GetValue<string>() ?? "", Age(o)]),
            _ => (["NAME", "AGE"], o => [Name(o), Age(o)]),
        };
    }

    /// <summary>The STATUS column as kubectl computes it: a terminating pod, a waiting or terminated container's
    /// reason, else the phase.</summary>
    private static string PodStatus(JsonObject pod, JsonArray statuses)
    {
        if (Str(pod, "metadata", "deletionTimestamp") is not null)
        {
            return "Terminating";
        }
        foreach (var s in statuses)
        {
            var reason = s?["state"]?["waiting"]?["reason"]?.GetValue<string>() ?? s?["state"]?["terminated"]?["reason"]?.GetValue<string>();
            if (reason is not null)
            {
                return reason;
            }
        }
        return Str(pod, "status", "reason") ?? Str(pod, "status", "phase") ?? "Unknown";
    }

    public static string Describe(IReadOnlyList<JsonObject> objects, DateTimeOffset now)
    {
        var text = new StringBuilder();
        foreach (var o in objects)
        {
            if (text.Length > 0)
            {
                text.Append("\n\n");
            }
            var fields = new List<(string Key, string Value)>
            {
                ("Name:", Str(o, "metadata", "name") ?? ""),
            };
            if (Str(o, "metadata", "namespace") is { } ns)
            {
                fields.Add(("Namespace:", ns));
            }
            fields.Add(("Labels:", Labels(o["metadata"]?["labels"] as JsonObject, None, "\n")));
            fields.Add(("Annotations:", Labels(o["metadata"]?["annotations"] as JsonObject, None, "\n")));
            fields.Add(("API Version:", Str(o, "apiVersion") ?? ""));
            fields.Add(("Kind:", Str(o, "kind") ?? ""));
            var created = Str(o, "metadata", "creationTimestamp");
            fields.Add(("CreationTimestamp:", created is null ? None : $"{created} ({Ages.Since(created, now)} ago)"));
            // The summary lines kubectl's describers put first for the kinds an operator describes most.
            switch (Str(o, "kind"))
            {
                case "Pod":
                    fields.Add(("Node:", Str(o, "spec", "nodeName") is { } node ? $"{node}/{Str(o, "status", "hostIP") ?? ""}" : None));
                    fields.Add(("Status:", Str(o, "status", "phase") ?? "Unknown"));
                    fields.Add(("IP:", Str(o, "status", "podIP") ?? ""));
                    break;
                case "Deployment":
                    var desired = Int(o, "spec", "replicas");
                    fields.Add(("Selector:", Labels(o["spec"]?["selector"]?["matchLabels"] as JsonObject, None)));
                    fields.Add(("Replicas:", $"{desired} desired | {Int(o, "status", "updatedReplicas")} updated | {Int(o, "status", "replicas")} total | " +
                        $"{Int(o, "status", "availableReplicas")} available | {Int(o, "status", "unavailableReplicas")} unavailable"));
                    break;
            }
            var width = fields.Max(f => f.Key.Length) + 2;
            foreach (var (key, value) in fields)
            {
                var lines = value.Split('\n');
                text.Append(key.PadRight(width)).Append(lines[0]).Append('\n');
                foreach (var line in lines.Skip(1))
                {
                    text.Append(new string(' ', width)).Append(line).Append('\n');
                }
            }
            foreach (var section in new[] { "spec", "status" })
            {
                if (o[section] is JsonObject body && body.Count > 0)
                {
                    text.Append(Title(section)).Append(":\n");
                    Nested(text, body, 1);
                }
            }
            text.Length -= 1;
        }
        return text.ToString();
    }

    private static void Nested(StringBuilder text, JsonObject obj, int depth)
    {
        var pad = new string(' ', depth * 2);
        // Values of one object line up, as kubectl's tabwriter aligns them.
        var width = obj.Where(p => p.Value is not (JsonObject or JsonArray)).Select(p => Title(p.Key).Length + 3).DefaultIfEmpty(0).Max();
        foreach (var (key, value) in obj)
        {
            switch (value)
            {
                case JsonObject child when child.Count == 0:
                    text.Append(pad).Append(Title(key)).Append(":\n");
                    break;
                case JsonObject child:
                    text.Append(pad).Append(Title(key)).Append(":\n");
                    Nested(text, child, depth + 1);
                    break;
                case JsonArray array:
                    text.Append(pad).Append(Title(key)).Append(":\n");
                    foreach (var item in array)
                    {
                        if (item is JsonObject itemObject)
                        {
                            Nested(text, itemObject, depth + 1);
                        }
                        else
                        {
                            text.Append(pad).Append("  ").Append(Scalar(item)).Append('\n');
                        }
                    }
                    break;
                default:
                    text.Append(pad).Append((Title(key) + ":").PadRight(width)).Append(Scalar(value)).Append('\n');
                    break;
            }
        }
    }

    /// <summary>"minReplicas" → "Min Replicas", as kubectl describe shows custom resources.</summary>
    private static string Title(string key)
    {
        var text = new StringBuilder();
        for (var i = 0; i < key.Length; i++)
        {
            var c = key[i];
            if (i == 0)
            {
                text.Append(char.ToUpperInvariant(c));
            }
            else if (char.IsUpper(c) && !char.IsUpper(key[i - 1]))
            {
                text.Append(' ').Append(c);
            }
            else
            {
                text.Append(c);
            }
        }
        return text.ToString();
    }

    private static string Scalar(JsonNode? node) => node switch
    {
        null => "",
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        _ => node.ToJsonString(),
    };

    private static string Labels(JsonObject? labels, string empty, string separator = ",") =>
        labels is null || labels.Count == 0 ? empty : string.Join(separator, labels.Select(l => $"{l.Key}={Scalar(l.Value)}"));

    private static string? Condition(JsonObject o, string type) =>
        Arr(o, "status", "conditions").FirstOrDefault(c => c?["type"]?.GetValue<string>() == type)?["status"]?.GetValue<string>();

    private static string Or(string value) => value.Length == 0 ? None : value;

    private static JsonNode? At(JsonObject o, string[] path)
    {
        JsonNode? node = o;
        foreach (var p in path)
        {
            node = (node as JsonObject)?[p];
        }
        return node;
    }

    private static string? Str(JsonObject o, params string[] path) =>
        At(o, path) is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;

    private static int Int(JsonObject o, params string[] path) =>
        At(o, path) is JsonValue v && v.TryGetValue<int>(out var i) ? i : 0;

    private static JsonArray Arr(JsonObject o, params string[] path) => At(o, path) as JsonArray ?? [];

    /// <summary>JSON as plain dictionaries, lists and scalars, in document order, for the YAML serializer.</summary>
    private static object? Plain(JsonNode? node) => node switch
    {
        null => null,
        JsonObject o => o.ToDictionary(p => p.Key, p => Plain(p.Value)),
        JsonArray a => a.Select(Plain).ToList(),
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => v.GetValue<string>(),
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.Number when v.TryGetValue<long>(out var l) => l,
            JsonValueKind.Number => v.GetValue<double>(),
            _ => null,
        },
        _ => null,
    };
}

/// <summary>kubectl's AGE column (k8s.io/apimachinery duration.HumanDuration).</summary>
public static class Ages
{
    public static string Since(string? timestamp, DateTimeOffset now)
    {
        if (timestamp is null || !DateTimeOffset.TryParse(timestamp, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at))
        {
            return "<unknown>";
        }
        return Human(now - at);
    }

    public static string Human(TimeSpan d)
    {
        var seconds = (long)d.TotalSeconds;
        if (seconds < -1)
        {
            return "<invalid>";
        }
        if (seconds < 0)
        {
            return "0s";
        }
        if (seconds < 60 * 2)
        {
            return $"{seconds}s";
        }
        var minutes = seconds / 60;
        if (minutes < 10)
        {
            var s = seconds % 60;
            return s == 0 ? $"{minutes}m" : $"{minutes}m{s}s";
        }
        if (minutes < 60 * 3)
        {
            return $"{minutes}m";
        }
        var hours = minutes / 60;
        if (hours < 8)
        {
            var m = minutes % 60;
            return m == 0 ? $"{hours}h" : $"{hours}h{m}m";
        }
        if (hours < 48)
        {
            return $"{hours}h";
        }
        if (hours < 24 * 8)
        {
            var h = hours % 24;
            return h == 0 ? $"{hours / 24}d" : $"{hours / 24}d{h}h";
        }
        if (hours < 24 * 365 * 2)
        {
            return $"{hours / 24}d";
        }
        if (hours < 24 * 365 * 8)
        {
            var dy = hours / 24 % 365;
            return dy == 0 ? $"{hours / 24 / 365}y" : $"{hours / 24 / 365}y{dy}d";
        }
        return $"{hours / 24 / 365}y";
    }
}
