using System.Net;
using System.Text.Json.Nodes;
using Inference.TestSupport;
using k8s;

namespace Inference.Api.Tests;

/// <summary>Shared steps of the publishing and key-validation tests: a Ready model, a publication, a key call.</summary>
public static class PublishingSupport
{
    public const string GatewayNamespace = "envoy-gateway-system";

    public static string NewName() => "p" + Guid.NewGuid().ToString("N")[..8];

    public static async Task<string> ReadyModelAsync(this ApiFixture api, HttpClient client, string? ns = null, string framework = "sklearn", string? name = null)
    {
        name ??= NewName();
        var query = ns is null ? "" : $"?namespace={ns}";
        await (await client.PostJson("/api/models", new
        {
            name,
            framework,
            storageUri = "gs://kfserving-examples/models/sklearn/1.0/model",
            @namespace = ns,
        })).AssertOk(HttpStatusCode.Created);
        await TestEnvironment.Eventually(
            async () => await (await client.GetAsync($"/api/models/{name}{query}")).Json(),
            m => m["ready"]?.GetValue<bool>() == true, what: $"model {name} to become Ready");
        return name;
    }

    public static object Config(int rpm = 100, int rph = 5000, long tokens = 100000, int burst = 10, string? modelType = null,
        string? path = null, string? host = null, string? expiresAt = null, string? tenantId = null, string[]? allowedTenants = null) => new
    {
        config = new
        {
            tenantId,
            modelType,
            externalPath = path,
            publicHostname = host ?? "api.router.inference-in-a-box",
            rateLimiting = new { requestsPerMinute = rpm, requestsPerHour = rph, tokensPerHour = tokens, burstLimit = burst },
            authentication = new { requireApiKey = true, allowedTenants = allowedTenants ?? [] },
            metadata = new { description = "test model" },
            expiresAt,
        },
    };

    /// <summary>Publishes and returns the publish answer (which holds the only full copy of the key).</summary>
    public static async Task<JsonNode> PublishAsync(this HttpClient client, string name, object? body = null, string query = "") =>
        await (await client.PostJson($"/api/models/{name}/publish{query}", body ?? Config())).AssertOk(HttpStatusCode.Created);

    /// <summary>The publication once its usage shows <paramref name="totalRequests"/>: API hosts report what they
    /// admitted from their leases with their next lease request, or within a lease period.</summary>
    public static Task<JsonNode> SettledPublicationAsync(this HttpClient tenant, string name, long totalRequests, string query = "") =>
        TestEnvironment.Eventually(async () => await (await tenant.GetAsync($"/api/models/{name}/publish{query}")).AssertOk(),
            p => p["usage"]!["totalRequests"]!.GetValue<long>() == totalRequests, what: $"usage to show {totalRequests} requests");

    public static string Key(this JsonNode published) => published["publishedModel"]!["apiKey"]!.GetValue<string>();

    /// <summary>A validation call as a gateway makes it: key in X-API-Key, optional token cost, optional source.</summary>
    public static Task<HttpResponseMessage> ValidateAsync(this HttpClient client, string key, long? tokens = null, string? source = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/validate-api-key");
        request.Headers.Add("X-API-Key", key);
        if (tokens is not null)
        {
            request.Headers.Add("X-Tokens", tokens.ToString());
        }
        if (source is not null)
        {
            request.Headers.Add("X-Forwarded-For", source);
        }
        return client.SendAsync(request);
    }

    /// <summary>A source address no other test uses, for the per-source failure limit.</summary>
    public static string NewSource() => $"10.{Random.Shared.Next(1, 255)}.{Random.Shared.Next(1, 255)}.{Random.Shared.Next(1, 255)}";

    /// <summary>The ReferenceGrant a publication writes into its tenant's namespace.</summary>
    public static Task<JsonNode?> ReferenceGrantAsync(this IKubernetes kube, string tenant, string name) =>
        kube.GatewayObjectAsync("gateway.networking.k8s.io", "v1beta1", "referencegrants", name, tenant);

    public static IKubernetes Kubernetes(this ApiFixture api) =>
        new k8s.Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(api.Emulator.KubeconfigPath));

    public static async Task<JsonNode?> GatewayObjectAsync(this IKubernetes kube, string group, string version, string plural, string name,
        string ns = GatewayNamespace)
    {
        try
        {
            var obj = await kube.CustomObjects.GetNamespacedCustomObjectAsync(group, version, ns, plural, name);
            return JsonNode.Parse(((System.Text.Json.JsonElement)obj).GetRawText());
        }
        catch (k8s.Autorest.HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }
}
