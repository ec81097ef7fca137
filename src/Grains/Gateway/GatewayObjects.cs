using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Inference.Grains.Abstractions.Publishing;
using Inference.Grains.Kubernetes;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Inference.Shared.Kubernetes;

namespace Inference.Grains.Gateway;

/// <summary>The Envoy Gateway objects that make a publication real.</summary>
public interface IGatewayObjects
{
    /// <summary>Creates (or, when <paramref name="update"/>, patches) the objects; on a failure part-way, removes
    /// what this call created before throwing, so nothing half-published remains.</summary>
    Task<IReadOnlyList<GatewayObjectRef>> ApplyAsync(string ns, string model, PublishConfig config, bool update);

    /// <summary>Deletes the objects; ones already gone count as deleted.</summary>
    Task DeleteAsync(IReadOnlyList<GatewayObjectRef> objects);
}

public sealed class GatewayObjects(IKubernetes client, IOptions<GatewayOptions> gateway, IOptions<KubernetesOptions> kubernetes,
    ILogger<GatewayObjects> logger)
    : IGatewayObjects
{
    public const string ModelLabel = "inference-in-a-box.io/model";

    private readonly GatewayOptions _gateway = gateway.Value;
    private readonly KubernetesOptions _kube = kubernetes.Value;

    private sealed record Kind(string Group, string Version, string Plural, string Name);

    private static readonly Kind HttpRoute = new("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute");
    private static readonly Kind AiRoute = new("aigateway.envoyproxy.io", "v1alpha1", "aigatewayroutes", "AIGatewayRoute");
    private static readonly Kind AiBackend = new("aigateway.envoyproxy.io", "v1alpha1", "aiservicebackends", "AIServiceBackend");
    private static readonly Kind TrafficPolicy = new("gateway.envoyproxy.io", "v1alpha1", "backendtrafficpolicies", "BackendTrafficPolicy");
    private static readonly Kind SecurityPolicy = new("gateway.envoyproxy.io", "v1alpha1", "securitypolicies", "SecurityPolicy");
    private static readonly Kind ReferenceGrant = new("gateway.networking.k8s.io", "v1beta1", "referencegrants", "ReferenceGrant");
    private static readonly Kind[] Kinds = [HttpRoute, AiRoute, AiBackend, TrafficPolicy, SecurityPolicy, ReferenceGrant];

    /// <summary>"{ns}-{name}" alone could collide ("a-b"/"c" and "a"/"b-c"), so a hash of "{ns}/{name}" is always
    /// appended; the readable part is cut so the whole stays a 63-character DNS label.</summary>
    public static string ObjectName(string ns, string model)
    {
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{ns}/{model}")))[..8];
        var readable = $"{ns}-{model}";
        if (readable.Length > 54)
        {
            readable = readable[..54].TrimEnd('-');
        }
        return $"{readable}-{hash}";
    }

    public async Task<IReadOnlyList<GatewayObjectRef>> ApplyAsync(string ns, string model, PublishConfig config, bool update)
    {
        var name = ObjectName(ns, model);
        var objects = Build(ns, model, name, config);
        var created = new List<GatewayObjectRef>();
        try
        {
            foreach (var (kind, objectNs, body) in objects)
            {
                if (update && await TryPatchAsync(kind, objectNs, name, body))
                {
                    continue;
                }
                await Call(ct => client.CustomObjects.CreateNamespacedCustomObjectAsync(
                    body, kind.Group, kind.Version, objectNs, kind.Plural, cancellationToken: ct), "Failed to publish model");
                created.Add(new GatewayObjectRef(kind.Name, objectNs, name));
            }
        }
        catch (KubernetesCallException)
        {
            await DeleteAsync(created);
            throw;
        }
        return [.. objects.Select(o => new GatewayObjectRef(o.Kind.Name, o.Namespace, name))];
    }

    /// <summary>Patches an object's spec; false when it does not exist (removed by hand, or a kind this service
    /// started writing after the publication was made), so the caller creates it.</summary>
    private async Task<bool> TryPatchAsync(Kind kind, string ns, string name, JsonObject body)
    {
        try
        {
            await Call(ct => client.CustomObjects.PatchNamespacedCustomObjectAsync(
                new V1Patch(new JsonObject { ["spec"] = body["spec"]!.DeepClone() }.ToJsonString(), V1Patch.PatchType.MergePatch),
                kind.Group, kind.Version, ns, kind.Plural, name, cancellationToken: ct), "Failed to update published model");
            return true;
        }
        catch (KubernetesCallException e) when (e.IsNotFound)
        {
            return false;
        }
    }

    public async Task DeleteAsync(IReadOnlyList<GatewayObjectRef> objects)
    {
        foreach (var o in objects)
        {
            var kind = Kinds.First(k => k.Name == o.Kind);
            try
            {
                await Call(ct => client.CustomObjects.DeleteNamespacedCustomObjectAsync(
                    kind.Group, kind.Version, o.Namespace, kind.Plural, o.Name, cancellationToken: ct), "Failed to unpublish model");
            }
            catch (KubernetesCallException e) when (e.IsNotFound)
            {
            }
        }
    }

    private Task<object> Call(Func<CancellationToken, Task<object>> call, string failure) =>
        KubernetesErrors.Call(call, failure, _kube.RequestTimeout, logger);

    private List<(Kind Kind, string Namespace, JsonObject Body)> Build(string ns, string model, string name, PublishConfig config)
    {
        var objects = new List<(Kind, string, JsonObject)>();
        void Add(Kind kind, string objectNs, JsonObject spec) => objects.Add((kind, objectNs, Object(kind, objectNs, ns, model, name, spec)));
        // An AIGatewayRoute makes the AI gateway generate an HTTPRoute of the same name, so the policies target
        // "HTTPRoute {name}" for both model types.
        if (config.ModelType == ModelTypes.OpenAi)
        {
            Add(AiBackend, _gateway.Namespace, new JsonObject
            {
                ["schema"] = new JsonObject { ["name"] = "OpenAI", ["prefix"] = "/v1" },
                ["backendRef"] = new JsonObject { ["name"] = $"{model}-predictor", ["namespace"] = ns, ["kind"] = "Service", ["port"] = 80 },
            });
            Add(AiRoute, _gateway.Namespace, new JsonObject
            {
                ["parentRefs"] = new JsonArray(new JsonObject { ["name"] = _gateway.GatewayName, ["namespace"] = _gateway.Namespace }),
                ["hostnames"] = new JsonArray(config.PublicHostname),
                ["rules"] = new JsonArray(new JsonObject
                {
                    ["matches"] = new JsonArray(new JsonObject
                    {
                        ["headers"] = new JsonArray(new JsonObject { ["type"] = "Exact", ["name"] = "x-ai-eg-model", ["value"] = model }),
                    }),
                    ["backendRefs"] = new JsonArray(new JsonObject { ["name"] = name }),
                }),
            });
        }
        else
        {
            Add(HttpRoute, _gateway.Namespace, new JsonObject
            {
                ["parentRefs"] = new JsonArray(new JsonObject { ["name"] = _gateway.GatewayName, ["namespace"] = _gateway.Namespace }),
                ["hostnames"] = new JsonArray(config.PublicHostname),
                ["rules"] = new JsonArray(new JsonObject
                {
                    ["matches"] = new JsonArray(new JsonObject
                    {
                        ["path"] = new JsonObject { ["type"] = "PathPrefix", ["value"] = config.ExternalPath },
                    }),
                    // "{externalPath}/v1/models/{model}:predict" reaches the predictor as "/v1/models/{model}:predict".
                    ["filters"] = new JsonArray(new JsonObject
                    {
                        ["type"] = "URLRewrite",
                        ["urlRewrite"] = new JsonObject
                        {
                            ["path"] = new JsonObject { ["type"] = "ReplacePrefixMatch", ["replacePrefixMatch"] = "/" },
                        },
                    }),
                    ["backendRefs"] = new JsonArray(new JsonObject { ["name"] = $"{model}-predictor", ["namespace"] = ns, ["port"] = 80 }),
                }),
            });
        }
        var target = new JsonArray(new JsonObject { ["group"] = HttpRoute.Group, ["kind"] = HttpRoute.Name, ["name"] = name });
        var limits = config.RateLimiting;
        Add(TrafficPolicy, _gateway.Namespace, new JsonObject
        {
            ["targetRefs"] = target.DeepClone(),
            // A coarse per-gateway-instance backstop; the exact per-key limits are enforced by key validation.
            ["rateLimit"] = new JsonObject
            {
                ["type"] = "Local",
                ["local"] = new JsonObject
                {
                    ["rules"] = new JsonArray(
                        Rule(limits.BurstLimit, "Second"),
                        Rule(limits.RequestsPerMinute, "Minute"),
                        Rule(limits.RequestsPerHour, "Hour")),
                },
            },
        });
        Add(SecurityPolicy, _gateway.Namespace, new JsonObject
        {
            ["targetRefs"] = target.DeepClone(),
            ["extAuth"] = new JsonObject
            {
                // The key, the client's address for the failure throttle, the model header openai routes match on, and
                // the calling tenant for publications restricted to some (set by the gateway from an authenticated source).
                ["headersToExtAuth"] = new JsonArray("x-api-key", "authorization", "x-forwarded-for", "x-envoy-external-address",
                    "x-ai-eg-model", "x-caller-tenant"),
                ["http"] = new JsonObject
                {
                    ["backendRefs"] = AuthBackends(),
                    // Envoy prepends this to the original path: the check learns which publication the request is
                    // for, and refuses any other publication's key.
                    ["path"] = $"{_gateway.AuthPath.TrimEnd('/')}/{ns}/{model}",
                    ["headersToBackend"] = new JsonArray("x-tenant", "x-model"),
                },
            },
        });
        // Gateway API routes may reach a Service in another namespace only when that namespace grants it: without
        // this grant the route is accepted but its backend stays unresolved. It lives in the tenant's namespace and
        // names the one Service it opens. (For openai models the AI gateway generates the HTTPRoute that refers to it.)
        var from = new JsonArray(new JsonObject { ["group"] = HttpRoute.Group, ["kind"] = HttpRoute.Name, ["namespace"] = _gateway.Namespace });
        if (config.ModelType == ModelTypes.OpenAi)
        {
            from.Add(new JsonObject { ["group"] = AiBackend.Group, ["kind"] = AiBackend.Name, ["namespace"] = _gateway.Namespace });
        }
        Add(ReferenceGrant, ns, new JsonObject
        {
            ["from"] = from,
            ["to"] = new JsonArray(new JsonObject { ["group"] = "", ["kind"] = "Service", ["name"] = $"{model}-predictor" }),
        });
        return objects;
    }

    /// <summary>This service's key validation, and its fallback port when one is set (<see cref="GatewayOptions.AuthServiceFallbackPort"/>).</summary>
    private JsonArray AuthBackends()
    {
        var backends = new JsonArray(AuthBackend(_gateway.AuthServicePort));
        if (_gateway.AuthServiceFallbackPort is { } fallback)
        {
            var backend = AuthBackend(fallback);
            backend["fallback"] = true;
            backends.Add(backend);
        }
        return backends;
    }

    private JsonObject AuthBackend(int port) => new()
    {
        ["name"] = _gateway.AuthServiceName,
        ["namespace"] = _gateway.AuthServiceNamespace,
        ["port"] = port,
    };

    private static JsonObject Rule(int requests, string unit) =>
        new() { ["limit"] = new JsonObject { ["requests"] = requests, ["unit"] = unit } };

    private JsonObject Object(Kind kind, string objectNs, string ns, string model, string name, JsonObject spec) => new()
    {
        ["apiVersion"] = $"{kind.Group}/{kind.Version}",
        ["kind"] = kind.Name,
        ["metadata"] = new JsonObject
        {
            ["name"] = name,
            ["namespace"] = objectNs,
            ["labels"] = new JsonObject
            {
                [_kube.ManagedByLabel] = _kube.ManagedByValue,
                [_kube.TenantLabel] = ns,
                [ModelLabel] = model,
            },
        },
        ["spec"] = spec,
    };
}
