using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using Microsoft.Extensions.Options;
using Inference.Shared.Kubernetes;

namespace Inference.ApiHost.Admin.Kubectl;

/// <summary>Serves a parsed command through the Kubernetes client (never a process), bounded in time and size.</summary>
public sealed class KubectlExecutor(IKubernetes kubernetes, IOptions<KubectlOptions> options, IOptions<KubernetesOptions> cluster,
    IGrainFactory grains, TimeProvider time)
{
    private const int MaxNamesPerCommand = 20;

    private readonly KubectlOptions _options = options.Value;

    /// <summary>The command's output; throws <see cref="KubernetesCallException"/> for API-server failures.</summary>
    public async Task<string> ExecuteAsync(KubectlCommand command)
    {
        if (command.Names.Count > MaxNamesPerCommand)
        {
            throw new KubectlRejectedException($"At most {MaxNamesPerCommand} names per command");
        }
        var output = await KubernetesErrors.Call(ct => RunAsync(command, ct), "kubectl command failed", _options.Timeout, forAdmins: true);
        return Cap(output);
    }

    private async Task<string> RunAsync(KubectlCommand command, CancellationToken ct)
    {
        // Pods and their logs show what runs in a namespace and what it prints (system components' included): the
        // console shows them for tenants' namespaces and the service's own, and for more only where configured.
        var podNamespaces = command.Verb == KubectlVerb.Logs || command.Resource?.Plural == "pods" ? await PodNamespacesAsync(ct) : null;
        if (podNamespaces is not null && !command.AllNamespaces && !podNamespaces.Contains(command.EffectiveNamespace))
        {
            throw new KubectlRejectedException(
                $"Pods and logs are shown for tenant namespaces and the service's own only; '{command.EffectiveNamespace}' is neither (setting Kubectl__Namespaces allows more)");
        }
        if (command.Verb == KubectlVerb.Logs)
        {
            return await LogsAsync(command, ct);
        }
        var resource = command.Resource!;
        var objects = new List<JsonObject>();
        if (command.Names.Count > 0)
        {
            foreach (var name in command.Names)
            {
                objects.Add(WithKind(await ReadAsync(resource, command.EffectiveNamespace, name, ct), resource));
            }
        }
        else
        {
            objects.AddRange((await ListAsync(resource, command, ct))
                .Where(o => podNamespaces is null || podNamespaces.Contains(o["metadata"]?["namespace"]?.GetValue<string>() ?? ""))
                .Select(o => WithKind(o, resource)));
        }
        if (command.Verb == KubectlVerb.Describe)
        {
            return objects.Count == 0 ? NoResources(command) : KubectlFormatter.Describe(objects, time.GetUtcNow());
        }
        return command.Output switch
        {
            OutputFormat.Json => KubectlFormatter.Json(Document(objects, command)),
            OutputFormat.Yaml => KubectlFormatter.Yaml(Document(objects, command)),
            OutputFormat.Name => string.Join('\n', objects.Select(o => $"{resource.NamePrefix}/{Name(o)}")),
            _ when objects.Count == 0 => NoResources(command),
            _ => KubectlFormatter.Table(resource, objects, command.AllNamespaces, command.Output == OutputFormat.Wide, time.GetUtcNow()),
        };
    }

    /// <summary>Where pods and logs may be shown, or null for everywhere.</summary>
    private async Task<HashSet<string>?> PodNamespacesAsync(CancellationToken ct)
    {
        if (_options.Namespaces.Contains("*"))
        {
            return null;
        }
        var allowed = new HashSet<string>(_options.Namespaces, StringComparer.Ordinal);
        if (_options.ServiceNamespace is { Length: > 0 } own)
        {
            allowed.Add(own);
        }
        var labelled = await kubernetes.CoreV1.ListNamespaceAsync(labelSelector: $"{cluster.Value.TenantLabel}=true", cancellationToken: ct);
        allowed.UnionWith(labelled.Items.Select(n => n.Metadata.Name));
        // Namespaces holding models are tenants' too, labelled or not.
        allowed.UnionWith(await grains.GetGrain<Grains.Abstractions.Tenants.ITenantDirectoryGrain>(0).ListAsync().WaitAsync(ct));
        return allowed;
    }

    private async Task<string> LogsAsync(KubectlCommand command, CancellationToken ct)
    {
        await using var stream = await kubernetes.CoreV1.ReadNamespacedPodLogAsync(
            command.Names[0], command.EffectiveNamespace, container: command.Container, tailLines: command.Tail, cancellationToken: ct);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var buffer = new char[_options.MaxOutputChars + 1];
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await reader.ReadAsync(buffer.AsMemory(read), ct);
            if (n == 0)
            {
                break;
            }
            read += n;
        }
        return new string(buffer, 0, read).TrimEnd('\n');
    }

    private async Task<JsonObject> ReadAsync(KubeResource r, string ns, string name, CancellationToken ct) => r.Plural switch
    {
        "pods" => Node(await kubernetes.CoreV1.ReadNamespacedPodAsync(name, ns, cancellationToken: ct)),
        "deployments" => Node(await kubernetes.AppsV1.ReadNamespacedDeploymentAsync(name, ns, cancellationToken: ct)),
        "services" => Node(await kubernetes.CoreV1.ReadNamespacedServiceAsync(name, ns, cancellationToken: ct)),
        "namespaces" => Node(await kubernetes.CoreV1.ReadNamespaceAsync(name, cancellationToken: ct)),
        "nodes" => Node(await kubernetes.CoreV1.ReadNodeAsync(name, cancellationToken: ct)),
        _ => Node(await kubernetes.CustomObjects.GetNamespacedCustomObjectAsync(r.Group, r.Version, ns, r.Plural, name, ct)),
    };

    private async Task<IEnumerable<JsonObject>> ListAsync(KubeResource r, KubectlCommand c, CancellationToken ct)
    {
        var ns = c.EffectiveNamespace;
        var sel = c.Selector;
        var all = c.AllNamespaces;
        var list = r.Plural switch
        {
            "pods" => Node(all ? await kubernetes.CoreV1.ListPodForAllNamespacesAsync(labelSelector: sel, cancellationToken: ct)
                : await kubernetes.CoreV1.ListNamespacedPodAsync(ns, labelSelector: sel, cancellationToken: ct)),
            "deployments" => Node(all ? await kubernetes.AppsV1.ListDeploymentForAllNamespacesAsync(labelSelector: sel, cancellationToken: ct)
                : await kubernetes.AppsV1.ListNamespacedDeploymentAsync(ns, labelSelector: sel, cancellationToken: ct)),
            "services" => Node(all ? await kubernetes.CoreV1.ListServiceForAllNamespacesAsync(labelSelector: sel, cancellationToken: ct)
                : await kubernetes.CoreV1.ListNamespacedServiceAsync(ns, labelSelector: sel, cancellationToken: ct)),
            "namespaces" => Node(await kubernetes.CoreV1.ListNamespaceAsync(labelSelector: sel, cancellationToken: ct)),
            "nodes" => Node(await kubernetes.CoreV1.ListNodeAsync(labelSelector: sel, cancellationToken: ct)),
            _ => Node(all ? await kubernetes.CustomObjects.ListClusterCustomObjectAsync(r.Group, r.Version, r.Plural, labelSelector: sel, cancellationToken: ct)
                : await kubernetes.CustomObjects.ListNamespacedCustomObjectAsync(r.Group, r.Version, ns, r.Plural, labelSelector: sel, cancellationToken: ct)),
        };
        var items = list["items"]?.AsArray().OfType<JsonObject>().ToList() ?? [];
        // kubectl sorts by namespace, then name.
        return items.OrderBy(o => o["metadata"]?["namespace"]?.GetValue<string>(), StringComparer.Ordinal).ThenBy(Name, StringComparer.Ordinal);
    }

    private static JsonObject Node(object value) => value switch
    {
        JsonElement e => JsonNode.Parse(e.GetRawText())!.AsObject(),
        _ => JsonNode.Parse(KubernetesJson.Serialize(value))!.AsObject(),
    };

    /// <summary>List items come without kind and apiVersion; kubectl's json and yaml show them.</summary>
    private static JsonObject WithKind(JsonObject o, KubeResource r)
    {
        var result = new JsonObject { ["apiVersion"] = r.ApiVersion, ["kind"] = r.Kind };
        foreach (var (key, value) in o.ToList())
        {
            if (key is not ("apiVersion" or "kind"))
            {
                o.Remove(key);
                result[key] = value;
            }
        }
        return result;
    }

    private static JsonObject Document(List<JsonObject> objects, KubectlCommand command)
    {
        if (command.Names.Count == 1)
        {
            return objects[0];
        }
        var items = new JsonArray();
        foreach (var o in objects)
        {
            items.Add(o);
        }
        return new JsonObject
        {
            ["apiVersion"] = "v1",
            ["items"] = items,
            ["kind"] = "List",
            ["metadata"] = new JsonObject { ["resourceVersion"] = "" },
        };
    }

    private static string NoResources(KubectlCommand command) =>
        command.Resource!.Namespaced && !command.AllNamespaces
            ? $"No resources found in {command.EffectiveNamespace} namespace."
            : "No resources found";

    private static string Name(JsonObject o) => o["metadata"]?["name"]?.GetValue<string>() ?? "";

    private string Cap(string output) => output.Length <= _options.MaxOutputChars
        ? output
        : output[.._options.MaxOutputChars] + $"\n[output truncated at {_options.MaxOutputChars} characters]";
}
