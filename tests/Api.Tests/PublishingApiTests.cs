using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Inference.TestSupport;
using k8s;
using static Inference.Api.Tests.PublishingSupport;

namespace Inference.Api.Tests;

[Collection(ApiCollection.Name)]
public sealed partial class PublishingApiTests(ApiFixture api)
{
    [GeneratedRegex("^pk_live_[0-9A-Za-z]{53}$")]
    private static partial Regex FullKey();

    private static string ObjectName(JsonNode published, string kind) =>
        published["gatewayResources"]!.AsArray().Single(o => o!["kind"]!.GetValue<string>() == kind)!["name"]!.GetValue<string>();

    [Fact]
    public async Task A_tenant_publishes_reads_lists_updates_and_unpublishes_a_model()
    {
        var tenant = api.Tenant("tenant-a");
        var name = await api.ReadyModelAsync(tenant);

        var published = await tenant.PublishAsync(name, Config(rpm: 100, rph: 5000, tokens: 100000, burst: 10));
        Assert.Equal("Model published successfully", published["message"]!.GetValue<string>());
        var p = published["publishedModel"]!;
        var key = published.Key();
        Assert.Matches(FullKey(), key);
        Assert.Equal(name, p["modelName"]!.GetValue<string>());
        Assert.Equal("tenant-a", p["namespace"]!.GetValue<string>());
        Assert.Equal("tenant-a", p["tenantId"]!.GetValue<string>());
        Assert.Equal("traditional", p["modelType"]!.GetValue<string>());
        Assert.Equal($"https://api.router.inference-in-a-box/models/{name}", p["externalUrl"]!.GetValue<string>());
        Assert.Equal("api.router.inference-in-a-box", p["publicHostname"]!.GetValue<string>());
        Assert.Equal(100, p["rateLimiting"]!["requestsPerMinute"]!.GetValue<int>());
        Assert.Equal(5000, p["rateLimiting"]!["requestsPerHour"]!.GetValue<int>());
        Assert.Equal(100000, p["rateLimiting"]!["tokensPerHour"]!.GetValue<long>());
        Assert.Equal(10, p["rateLimiting"]!["burstLimit"]!.GetValue<int>());
        Assert.Equal("active", p["status"]!.GetValue<string>());
        Assert.Equal(0, p["usage"]!["totalRequests"]!.GetValue<long>());
        Assert.Equal("test model", p["metadata"]!["description"]!.GetValue<string>());
        var docs = p["documentation"]!;
        Assert.Equal($"https://api.router.inference-in-a-box/models/{name}", docs["endpointUrl"]!.GetValue<string>());
        Assert.Equal(key, docs["authHeaders"]!["X-API-Key"]!.GetValue<string>());
        var example = docs["exampleRequests"]![0]!;
        Assert.Equal($"https://api.router.inference-in-a-box/models/{name}/v1/models/{name}:predict", example["url"]!.GetValue<string>());
        Assert.Equal(key, example["headers"]!["X-API-Key"]!.GetValue<string>());
        Assert.NotNull(JsonNode.Parse(example["body"]!.GetValue<string>())!["instances"]);
        foreach (var sdk in new[] { "python", "javascript", "curl" })
        {
            var code = docs["sdkExamples"]![sdk]!.GetValue<string>();
            Assert.Contains($"/models/{name}/v1/models/{name}:predict", code);
            Assert.Contains(key, code);
        }

        // The gateway objects exist in the gateway namespace, labelled, and accepted by the CRD schemas.
        var kube = api.Kubernetes();
        var routeName = ObjectName(p, "HTTPRoute");
        var route = await kube.GatewayObjectAsync("gateway.networking.k8s.io", "v1", "httproutes", routeName);
        Assert.NotNull(route);
        Assert.Equal("inference-management", route!["metadata"]!["labels"]!["app.kubernetes.io/managed-by"]!.GetValue<string>());
        Assert.Equal("tenant-a", route["metadata"]!["labels"]!["inference-in-a-box.io/tenant"]!.GetValue<string>());
        Assert.Equal($"/models/{name}", route["spec"]!["rules"]![0]!["matches"]![0]!["path"]!["value"]!.GetValue<string>());
        Assert.Equal($"{name}-predictor", route["spec"]!["rules"]![0]!["backendRefs"]![0]!["name"]!.GetValue<string>());
        var traffic = await kube.GatewayObjectAsync("gateway.envoyproxy.io", "v1alpha1", "backendtrafficpolicies", routeName);
        Assert.Equal(100, traffic!["spec"]!["rateLimit"]!["local"]!["rules"]![1]!["limit"]!["requests"]!.GetValue<int>());
        var security = await kube.GatewayObjectAsync("gateway.envoyproxy.io", "v1alpha1", "securitypolicies", routeName);
        // The check learns which publication a request is for from the path Envoy prefixes to the original one.
        Assert.Equal($"/api/validate-api-key/tenant-a/{name}", security!["spec"]!["extAuth"]!["http"]!["path"]!.GetValue<string>());
        Assert.Contains("x-envoy-external-address", security["spec"]!["extAuth"]!["headersToExtAuth"]!.AsArray().Select(h => h!.GetValue<string>()));
        Assert.Equal(routeName, security["spec"]!["targetRefs"]![0]!["name"]!.GetValue<string>());
        // The tenant's namespace grants the gateway's routes access to this model's predictor Service, and nothing else.
        var grant = await kube.ReferenceGrantAsync("tenant-a", routeName);
        Assert.NotNull(grant);
        Assert.Equal("HTTPRoute", grant!["spec"]!["from"]!.AsArray().Single()!["kind"]!.GetValue<string>());
        Assert.Equal(GatewayNamespace, grant["spec"]!["from"]![0]!["namespace"]!.GetValue<string>());
        Assert.Equal($"{name}-predictor", grant["spec"]!["to"]!.AsArray().Single()!["name"]!.GetValue<string>());
        Assert.Equal("Service", grant["spec"]!["to"]![0]!["kind"]!.GetValue<string>());

        // The key works; GET shows the usage and only the masked key.
        (await tenant.ValidateAsync(key)).EnsureSuccessStatusCode();
        var got = await tenant.SettledPublicationAsync(name, 1);
        var masked = got["apiKey"]!.GetValue<string>();
        Assert.Equal(key[..14] + "...", masked);
        Assert.Equal(masked, got["documentation"]!["authHeaders"]!["X-API-Key"]!.GetValue<string>());
        Assert.Equal(1, got["usage"]!["totalRequests"]!.GetValue<long>());
        Assert.Equal(1, got["usage"]!["requestsToday"]!.GetValue<long>());
        Assert.NotNull(got["usage"]!["lastAccessTime"]);

        var list = await (await tenant.GetAsync("/api/published-models")).AssertOk();
        var listed = list["publishedModels"]!.AsArray().Single(m => m!["modelName"]!.GetValue<string>() == name)!;
        Assert.Equal(masked, listed["apiKey"]!.GetValue<string>());
        Assert.Equal(1, listed["usage"]!["totalRequests"]!.GetValue<long>());
        Assert.Null(listed["documentation"]);
        Assert.Equal(list["publishedModels"]!.AsArray().Count, list["total"]!.GetValue<int>());

        // Update changes the limits in the gateway objects and in the key's enforcement.
        var updated = await (await tenant.PutJson($"/api/models/{name}/publish", new
        {
            config = new { publicHostname = "models.example.com", rateLimiting = new { requestsPerMinute = 200, requestsPerHour = 10000 } },
        })).AssertOk();
        Assert.Equal("Published model updated successfully", updated["message"]!.GetValue<string>());
        Assert.Equal(200, updated["publishedModel"]!["rateLimiting"]!["requestsPerMinute"]!.GetValue<int>());
        Assert.Equal(10, updated["publishedModel"]!["rateLimiting"]!["burstLimit"]!.GetValue<int>());
        Assert.Equal(masked, updated["publishedModel"]!["apiKey"]!.GetValue<string>());
        Assert.Equal($"https://models.example.com/models/{name}", updated["publishedModel"]!["externalUrl"]!.GetValue<string>());
        traffic = await kube.GatewayObjectAsync("gateway.envoyproxy.io", "v1alpha1", "backendtrafficpolicies", routeName);
        Assert.Equal(200, traffic!["spec"]!["rateLimit"]!["local"]!["rules"]![1]!["limit"]!["requests"]!.GetValue<int>());
        route = await kube.GatewayObjectAsync("gateway.networking.k8s.io", "v1", "httproutes", routeName);
        Assert.Equal("models.example.com", route!["spec"]!["hostnames"]![0]!.GetValue<string>());
        // An update also restores a gateway object that went missing (removed by hand, or never written by an older version).
        await kube.CustomObjects.DeleteNamespacedCustomObjectAsync("gateway.networking.k8s.io", "v1beta1", "tenant-a", "referencegrants", routeName);
        await (await tenant.PutJson($"/api/models/{name}/publish", new { config = new { metadata = new { description = "again" } } })).AssertOk();
        Assert.NotNull(await kube.ReferenceGrantAsync("tenant-a", routeName));
        var afterUpdate = await tenant.ValidateAsync(key);
        Assert.Equal(HttpStatusCode.OK, afterUpdate.StatusCode);
        Assert.Equal("200", afterUpdate.Headers.GetValues("X-RateLimit-Limit").Single());

        var deleted = await (await tenant.DeleteAsync($"/api/models/{name}/publish")).AssertOk();
        Assert.Equal("Model unpublished successfully", deleted["message"]!.GetValue<string>());
        await (await tenant.ValidateAsync(key)).AssertError(HttpStatusCode.Unauthorized, "revoked");
        Assert.Null(await kube.GatewayObjectAsync("gateway.networking.k8s.io", "v1", "httproutes", routeName));
        Assert.Null(await kube.GatewayObjectAsync("gateway.envoyproxy.io", "v1alpha1", "backendtrafficpolicies", routeName));
        Assert.Null(await kube.GatewayObjectAsync("gateway.envoyproxy.io", "v1alpha1", "securitypolicies", routeName));
        Assert.Null(await kube.ReferenceGrantAsync("tenant-a", routeName));
        await (await tenant.GetAsync($"/api/models/{name}/publish")).AssertError(HttpStatusCode.NotFound);
        list = await (await tenant.GetAsync("/api/published-models")).AssertOk();
        Assert.DoesNotContain(list["publishedModels"]!.AsArray(), m => m!["modelName"]!.GetValue<string>() == name);

        // A model can be published again after unpublishing, with a new key.
        var again = await tenant.PublishAsync(name);
        Assert.NotEqual(key, again.Key());
        await (await tenant.DeleteAsync($"/api/models/{name}/publish")).AssertOk();
    }

    [Fact]
    public async Task An_openai_model_gets_an_ai_gateway_route_and_chat_completion_docs()
    {
        var tenant = api.Tenant("tenant-a");
        var name = await api.ReadyModelAsync(tenant, framework: "huggingface");

        var published = await tenant.PublishAsync(name, Config(path: "/llm/chat"));
        var p = published["publishedModel"]!;
        Assert.Equal("openai", p["modelType"]!.GetValue<string>());
        var example = p["documentation"]!["exampleRequests"]![0]!;
        Assert.Equal("https://api.router.inference-in-a-box/llm/chat/v1/chat/completions", example["url"]!.GetValue<string>());
        Assert.Equal(name, JsonNode.Parse(example["body"]!.GetValue<string>())!["model"]!.GetValue<string>());
        Assert.Contains($"'model': '{name}'", p["documentation"]!["sdkExamples"]!["python"]!.GetValue<string>());
        Assert.Contains("/v1/chat/completions", p["documentation"]!["sdkExamples"]!["curl"]!.GetValue<string>());

        var kube = api.Kubernetes();
        var objectName = ObjectName(p, "AIGatewayRoute");
        var route = await kube.GatewayObjectAsync("aigateway.envoyproxy.io", "v1alpha1", "aigatewayroutes", objectName);
        Assert.Equal(name, route!["spec"]!["rules"]![0]!["matches"]![0]!["headers"]![0]!["value"]!.GetValue<string>());
        Assert.NotNull(await kube.GatewayObjectAsync("aigateway.envoyproxy.io", "v1alpha1", "aiservicebackends", objectName));
        Assert.NotNull(await kube.GatewayObjectAsync("gateway.envoyproxy.io", "v1alpha1", "securitypolicies", objectName));
        Assert.Null(await kube.GatewayObjectAsync("gateway.networking.k8s.io", "v1", "httproutes", objectName));
        var grant = await kube.ReferenceGrantAsync("tenant-a", objectName);
        Assert.Equal(["HTTPRoute", "AIServiceBackend"], grant!["spec"]!["from"]!.AsArray().Select(f => f!["kind"]!.GetValue<string>()));

        // An explicit modelType overrides the default from the framework.
        var traditional = await api.ReadyModelAsync(tenant, framework: "huggingface");
        var asTraditional = await tenant.PublishAsync(traditional, Config(modelType: "traditional"));
        Assert.Equal("traditional", asTraditional["publishedModel"]!["modelType"]!.GetValue<string>());

        await (await tenant.DeleteAsync($"/api/models/{name}/publish")).AssertOk();
        Assert.Null(await kube.GatewayObjectAsync("aigateway.envoyproxy.io", "v1alpha1", "aigatewayroutes", objectName));
        Assert.Null(await kube.GatewayObjectAsync("aigateway.envoyproxy.io", "v1alpha1", "aiservicebackends", objectName));
        Assert.Null(await kube.ReferenceGrantAsync("tenant-a", objectName));
    }

    public static IEnumerable<object[]> InvalidConfigs()
    {
        yield return [Config(rpm: 0), "requestsPerMinute"];
        yield return [Config(rph: 0), "requestsPerHour"];
        yield return [Config(rpm: 200, rph: 100), "must not exceed"];
        yield return [Config(burst: 0), "burstLimit"];
        yield return [Config(tokens: -1), "tokensPerHour"];
        yield return [Config(modelType: "vision"), "modelType"];
        yield return [Config(path: "models/x"), "externalPath"];
        yield return [Config(path: "/models/a b"), "externalPath"];
        yield return [Config(path: "/models/../admin"), "externalPath"];
        yield return [Config(path: "/models?x=1"), "externalPath"];
        yield return [Config(host: "not a host"), "publicHostname"];
        yield return [Config(host: "-bad.example.com"), "publicHostname"];
        yield return [Config(expiresAt: "2001-01-01T00:00:00Z"), "expiresAt"];
        yield return [new { config = new { authentication = new { requireApiKey = false } } }, "requireApiKey"];
        yield return [new { config = new { rateLimiting = new { requestsPerMinute = "many" } } }, "config.rateLimiting.requestsPerMinute"];
        yield return [new { }, "config"];
    }

    [Theory]
    [MemberData(nameof(InvalidConfigs))]
    public async Task Invalid_publish_requests_are_400_and_leave_nothing_behind(object body, string field)
    {
        var tenant = api.Tenant("tenant-a");
        var name = await api.ReadyModelAsync(tenant);

        await (await tenant.PostJson($"/api/models/{name}/publish", body)).AssertError(HttpStatusCode.BadRequest, field);

        await (await tenant.GetAsync($"/api/models/{name}/publish")).AssertError(HttpStatusCode.NotFound);
        var list = await (await tenant.GetAsync("/api/published-models")).AssertOk();
        Assert.DoesNotContain(list["publishedModels"]!.AsArray(), m => m!["modelName"]!.GetValue<string>() == name);
        await (await tenant.DeleteAsync($"/api/models/{name}")).AssertOk();
    }

    [Fact]
    public async Task Conflicts_missing_models_and_unpublished_models_answer_409_and_404()
    {
        var tenant = api.Tenant("tenant-a");
        var name = await api.ReadyModelAsync(tenant);
        await tenant.PublishAsync(name);

        await (await tenant.PostJson($"/api/models/{name}/publish", Config())).AssertError(HttpStatusCode.Conflict, "already published");
        await (await tenant.PutJson($"/api/models/{name}/publish", new { config = new { rateLimiting = new { requestsPerMinute = 0 } } }))
            .AssertError(HttpStatusCode.BadRequest, "requestsPerMinute");
        await (await tenant.PutJson($"/api/models/{name}/publish", new { config = new { modelType = "openai" } }))
            .AssertError(HttpStatusCode.BadRequest, "modelType");
        await (await tenant.PostJson($"/api/models/{name}/publish/rotate-key", new { gracePeriodSeconds = -1 }))
            .AssertError(HttpStatusCode.BadRequest, "gracePeriodSeconds");
        await (await tenant.PostJson($"/api/models/{name}/publish/rotate-key", new { gracePeriodSeconds = 8 * 86400 }))
            .AssertError(HttpStatusCode.BadRequest, "gracePeriodSeconds");
        await (await tenant.PostRaw($"/api/models/{name}/publish/rotate-key", "{not json")).AssertError(HttpStatusCode.BadRequest);
        await (await tenant.PostRaw($"/api/models/{name}/publish", "{\"config\": ")).AssertError(HttpStatusCode.BadRequest);
        await (await tenant.PostJson("/api/models/Bad_Name/publish", Config())).AssertError(HttpStatusCode.BadRequest, "name");

        var missing = NewName();
        await (await tenant.PostJson($"/api/models/{missing}/publish", Config())).AssertError(HttpStatusCode.NotFound, "Model not found");

        var unpublished = await api.ReadyModelAsync(tenant);
        await (await tenant.GetAsync($"/api/models/{unpublished}/publish")).AssertError(HttpStatusCode.NotFound);
        await (await tenant.PutJson($"/api/models/{unpublished}/publish", new { config = new { publicHostname = "x.example.com" } })).AssertError(HttpStatusCode.NotFound);
        await (await tenant.DeleteAsync($"/api/models/{unpublished}/publish")).AssertError(HttpStatusCode.NotFound);
        await (await tenant.PostJson($"/api/models/{unpublished}/publish/rotate-key", new { })).AssertError(HttpStatusCode.NotFound);

        await (await tenant.DeleteAsync($"/api/models/{name}")).AssertOk();
    }

    [Fact]
    public async Task A_model_that_is_not_ready_cannot_be_published()
    {
        var tenant = api.Tenant("tenant-a");
        var name = await api.ReadyModelAsync(tenant);
        // Make KServe report the model as not Ready (the status subresource, as a failing predictor would).
        var kube = api.Kubernetes();
        var patch = new { status = new { conditions = new[] { new { type = "Ready", status = "False", reason = "PredictorNotReady", lastTransitionTime = DateTime.UtcNow.ToString("O")[..19] + "Z" } } } };
        await kube.CustomObjects.PatchNamespacedCustomObjectStatusAsync(
            new k8s.Models.V1Patch(System.Text.Json.JsonSerializer.Serialize(patch), k8s.Models.V1Patch.PatchType.MergePatch),
            "serving.kserve.io", "v1beta1", "tenant-a", "inferenceservices", name);
        await TestEnvironment.Eventually(
            async () => await (await tenant.GetAsync($"/api/models/{name}")).Json(),
            m => m["ready"]?.GetValue<bool>() == false, what: "the model to be reported not Ready");

        await (await tenant.PostJson($"/api/models/{name}/publish", Config())).AssertError(HttpStatusCode.Conflict, "not ready");
        await (await tenant.GetAsync($"/api/models/{name}/publish")).AssertError(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Publishing_needs_a_token_and_tenants_are_confined_to_their_own()
    {
        var a = api.Tenant("tenant-a");
        var b = api.Tenant("tenant-b");
        var admin = api.Admin();
        var anonymous = api.Client();
        var name = await api.ReadyModelAsync(a);
        var key = (await a.PublishAsync(name)).Key();

        await (await anonymous.PostJson($"/api/models/{name}/publish", Config())).AssertError(HttpStatusCode.Unauthorized);
        await (await anonymous.GetAsync($"/api/models/{name}/publish")).AssertError(HttpStatusCode.Unauthorized);
        await (await anonymous.GetAsync("/api/published-models")).AssertError(HttpStatusCode.Unauthorized);
        await (await anonymous.PostJson($"/api/models/{name}/publish/rotate-key", new { })).AssertError(HttpStatusCode.Unauthorized);

        // Another tenant naming tenant-a is refused; without naming it, it only sees its own (empty) namespace.
        await (await b.GetAsync($"/api/models/{name}/publish?namespace=tenant-a")).AssertError(HttpStatusCode.Forbidden, "tenant-a");
        await (await b.DeleteAsync($"/api/models/{name}/publish?namespace=tenant-a")).AssertError(HttpStatusCode.Forbidden);
        await (await b.PutJson($"/api/models/{name}/publish?namespace=tenant-a", new { config = new { publicHostname = "evil.example.com" } })).AssertError(HttpStatusCode.Forbidden);
        await (await b.PostJson($"/api/models/{name}/publish/rotate-key?namespace=tenant-a", new { })).AssertError(HttpStatusCode.Forbidden);
        await (await b.PostJson($"/api/models/{name}/publish", Config(tenantId: "tenant-a"))).AssertError(HttpStatusCode.Forbidden);
        await (await b.GetAsync("/api/published-models?namespace=tenant-a")).AssertError(HttpStatusCode.Forbidden);
        await (await b.GetAsync($"/api/models/{name}/publish")).AssertError(HttpStatusCode.NotFound);
        var bList = await (await b.GetAsync("/api/published-models")).AssertOk();
        Assert.All(bList["publishedModels"]!.AsArray(), m => Assert.Equal("tenant-b", m!["namespace"]!.GetValue<string>()));

        // The same model name in tenant-b publishes independently: its own key, its own gateway objects, its own
        // route (tenant-a's default route /models/{name} on the shared host is taken).
        await api.ReadyModelAsync(b, name: name);
        await (await b.PostJson($"/api/models/{name}/publish", Config())).AssertError(HttpStatusCode.Conflict, "already claimed");
        var bPublished = await b.PublishAsync(name, Config(path: $"/tenant-b/models/{name}"));
        Assert.NotEqual(key, bPublished.Key());
        Assert.Equal("tenant-b", (await (await b.ValidateAsync(bPublished.Key())).AssertOk())["tenant"]!.GetValue<string>());
        Assert.Equal("tenant-a", (await (await a.ValidateAsync(key)).AssertOk())["tenant"]!.GetValue<string>());
        var aObjects = (await (await a.GetAsync($"/api/models/{name}/publish")).AssertOk())["gatewayResources"]![0]!["name"]!.GetValue<string>();
        var bObjects = (await (await b.GetAsync($"/api/models/{name}/publish")).AssertOk())["gatewayResources"]![0]!["name"]!.GetValue<string>();
        Assert.NotEqual(aObjects, bObjects);

        // An admin names the tenant, or sees everything.
        await (await admin.GetAsync($"/api/models/{name}/publish")).AssertError(HttpStatusCode.BadRequest, "namespace");
        var viaAdmin = await (await admin.GetAsync($"/api/models/{name}/publish?namespace=tenant-b")).AssertOk();
        Assert.Equal("tenant-b", viaAdmin["namespace"]!.GetValue<string>());
        var all = await (await admin.GetAsync("/api/published-models")).AssertOk();
        Assert.Contains(all["publishedModels"]!.AsArray(), m => m!["modelName"]!.GetValue<string>() == name && m["namespace"]!.GetValue<string>() == "tenant-a");
        Assert.Contains(all["publishedModels"]!.AsArray(), m => m!["modelName"]!.GetValue<string>() == name && m["namespace"]!.GetValue<string>() == "tenant-b");
        await (await admin.DeleteAsync($"/api/models/{name}/publish?namespace=tenant-b")).AssertOk();
        await (await b.ValidateAsync(bPublished.Key())).AssertError(HttpStatusCode.Unauthorized);
        (await a.ValidateAsync(key)).EnsureSuccessStatusCode();

        // An admin publishes into a tenant by naming it.
        var adminPublished = await admin.PublishAsync(name, Config(path: $"/tenant-b/models/{name}"), query: "?namespace=tenant-b");
        Assert.Equal("tenant-b", adminPublished["publishedModel"]!["namespace"]!.GetValue<string>());
        await (await admin.PostJson($"/api/models/{name}/publish?namespace=tenant-b", Config(tenantId: "tenant-a"))).AssertError(HttpStatusCode.BadRequest, "tenantId");
        await (await b.DeleteAsync($"/api/models/{name}")).AssertOk();
        await (await a.DeleteAsync($"/api/models/{name}")).AssertOk();
    }

    [Fact]
    public async Task Rotation_revokes_the_old_key_at_once_or_after_its_grace_period()
    {
        var tenant = api.Tenant("tenant-a");
        var name = await api.ReadyModelAsync(tenant);
        // Limits high enough that polling the old key during its grace period (which counts) never hits them.
        var first = (await tenant.PublishAsync(name, Config(rpm: 1000, rph: 10000, burst: 1000))).Key();
        (await tenant.ValidateAsync(first)).EnsureSuccessStatusCode();

        var rotated = await (await tenant.PostAsync($"/api/models/{name}/publish/rotate-key", null)).AssertOk();
        Assert.Equal("API key rotated successfully", rotated["message"]!.GetValue<string>());
        var second = rotated["newApiKey"]!.GetValue<string>();
        Assert.Matches(FullKey(), second);
        Assert.NotEqual(first, second);
        Assert.NotNull(rotated["updatedAt"]);
        await (await tenant.ValidateAsync(first)).AssertError(HttpStatusCode.Unauthorized, "revoked");
        (await tenant.ValidateAsync(second)).EnsureSuccessStatusCode();
        var got = await tenant.SettledPublicationAsync(name, 2);
        Assert.Equal(second[..14] + "...", got["apiKey"]!.GetValue<string>());
        // Usage carries over from the old key to the new one.
        Assert.Equal(2, got["usage"]!["totalRequests"]!.GetValue<long>());

        var graced = await (await tenant.PostJson($"/api/models/{name}/publish/rotate-key", new { gracePeriodSeconds = 3 })).AssertOk();
        var third = graced["newApiKey"]!.GetValue<string>();
        Assert.NotNull(graced["oldKeyValidUntil"]);
        (await tenant.ValidateAsync(third)).EnsureSuccessStatusCode();
        var during = await (await tenant.ValidateAsync(second)).AssertOk();
        Assert.Equal(name, during["model"]!.GetValue<string>());
        await TestEnvironment.Eventually(async () => (await tenant.ValidateAsync(second)).StatusCode,
            s => s == HttpStatusCode.Unauthorized, what: "the old key to stop working after its grace period");
        (await tenant.ValidateAsync(third)).EnsureSuccessStatusCode();

        await (await tenant.DeleteAsync($"/api/models/{name}")).AssertOk();
    }

    [Fact]
    public async Task Deleting_a_model_unpublishes_it()
    {
        var tenant = api.Tenant("tenant-a");
        var name = await api.ReadyModelAsync(tenant);
        var published = await tenant.PublishAsync(name);
        var key = published.Key();
        var objectName = ObjectName(published["publishedModel"]!, "HTTPRoute");
        (await tenant.ValidateAsync(key)).EnsureSuccessStatusCode();

        await (await tenant.DeleteAsync($"/api/models/{name}")).AssertOk();

        await (await tenant.ValidateAsync(key)).AssertError(HttpStatusCode.Unauthorized);
        await (await tenant.GetAsync($"/api/models/{name}/publish")).AssertError(HttpStatusCode.NotFound);
        var kube = api.Kubernetes();
        Assert.Null(await kube.GatewayObjectAsync("gateway.networking.k8s.io", "v1", "httproutes", objectName));
        Assert.Null(await kube.GatewayObjectAsync("gateway.envoyproxy.io", "v1alpha1", "backendtrafficpolicies", objectName));
        Assert.Null(await kube.GatewayObjectAsync("gateway.envoyproxy.io", "v1alpha1", "securitypolicies", objectName));
        Assert.Null(await kube.ReferenceGrantAsync("tenant-a", objectName));
        var list = await (await tenant.GetAsync("/api/published-models")).AssertOk();
        Assert.DoesNotContain(list["publishedModels"]!.AsArray(), m => m!["modelName"]!.GetValue<string>() == name);
    }

    [Fact]
    public async Task A_gateway_failure_leaves_no_half_published_state()
    {
        var tenant = api.Tenant("tenant-a");
        var name = await api.ReadyModelAsync(tenant);
        // Occupy the SecurityPolicy's name so the last of the gateway objects cannot be created.
        var published = await tenant.PublishAsync(name);
        var objectName = ObjectName(published["publishedModel"]!, "HTTPRoute");
        await (await tenant.DeleteAsync($"/api/models/{name}/publish")).AssertOk();
        var kube = api.Kubernetes();
        var blocker = new JsonObject
        {
            ["apiVersion"] = "gateway.envoyproxy.io/v1alpha1",
            ["kind"] = "SecurityPolicy",
            ["metadata"] = new JsonObject { ["name"] = objectName },
            ["spec"] = JsonNode.Parse("""{"targetRefs":[{"group":"gateway.networking.k8s.io","kind":"HTTPRoute","name":"other"}]}"""),
        };
        await kube.CustomObjects.CreateNamespacedCustomObjectAsync(blocker, "gateway.envoyproxy.io", "v1alpha1", GatewayNamespace, "securitypolicies");

        await (await tenant.PostJson($"/api/models/{name}/publish", Config())).AssertError(HttpStatusCode.Conflict);

        Assert.Null(await kube.GatewayObjectAsync("gateway.networking.k8s.io", "v1", "httproutes", objectName));
        Assert.Null(await kube.GatewayObjectAsync("gateway.envoyproxy.io", "v1alpha1", "backendtrafficpolicies", objectName));
        await (await tenant.GetAsync($"/api/models/{name}/publish")).AssertError(HttpStatusCode.NotFound);
        var list = await (await tenant.GetAsync("/api/published-models")).AssertOk();
        Assert.DoesNotContain(list["publishedModels"]!.AsArray(), m => m!["modelName"]!.GetValue<string>() == name);

        await kube.CustomObjects.DeleteNamespacedCustomObjectAsync("gateway.envoyproxy.io", "v1alpha1", GatewayNamespace, "securitypolicies", objectName);
        await tenant.PublishAsync(name);
        await (await tenant.DeleteAsync($"/api/models/{name}")).AssertOk();
    }

    [Fact]
    public async Task Only_the_publish_and_rotate_answers_ever_contain_a_full_key()
    {
        var tenant = api.Tenant("tenant-a");
        var admin = api.Admin();
        var name = await api.ReadyModelAsync(tenant);
        var keys = new List<string>();
        var bodies = new List<string>();
        async Task<string> Record(Task<HttpResponseMessage> call)
        {
            var body = await (await call).Content.ReadAsStringAsync();
            bodies.Add(body);
            return body;
        }

        keys.Add((await tenant.PublishAsync(name)).Key());
        await Record(tenant.ValidateAsync(keys[0]));
        await Record(tenant.PostJson("/api/validate-api-key", new { apiKey = keys[0] }));
        await Record(tenant.GetAsync($"/api/models/{name}/publish"));
        await Record(tenant.GetAsync("/api/published-models"));
        await Record(admin.GetAsync("/api/published-models"));
        await Record(tenant.PutJson($"/api/models/{name}/publish", new { config = new { rateLimiting = new { burstLimit = 20 } } }));
        keys.Add((await (await tenant.PostJson($"/api/models/{name}/publish/rotate-key", new { gracePeriodSeconds = 60 })).AssertOk())["newApiKey"]!.GetValue<string>());
        await Record(tenant.ValidateAsync(keys[0]));
        await Record(tenant.ValidateAsync(keys[1]));
        await Record(tenant.GetAsync($"/api/models/{name}/publish"));
        await Record(tenant.GetAsync($"/api/models/{name}"));
        await Record(tenant.PostJson($"/api/models/{name}/publish", Config()));
        await Record(tenant.DeleteAsync($"/api/models/{name}/publish"));
        await Record(tenant.ValidateAsync(keys[1]));
        await Record(tenant.DeleteAsync($"/api/models/{name}"));

        Assert.Equal(14, bodies.Count);
        foreach (var key in keys)
        {
            var secret = key[14..];
            Assert.DoesNotContain(bodies, b => b.Contains(secret, StringComparison.Ordinal));
            Assert.DoesNotContain(api.Logs.Lines, l => l.Contains(secret, StringComparison.Ordinal));
        }
        Assert.Contains(api.Logs.Lines, l => l.Contains(keys[0][..14] + "...", StringComparison.Ordinal));
    }
}
