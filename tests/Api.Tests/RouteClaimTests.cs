using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using static Inference.Api.Tests.PublishingSupport;

namespace Inference.Api.Tests;

/// <summary>A publication's route (hostname and path prefix, or an openai model header) is claimed cluster-wide:
/// no other publication can take it over, in whole or in part.</summary>
[Collection(ApiCollection.Name)]
public sealed class RouteClaimTests(ApiFixture api)
{
    /// <summary>A hostname no other test uses, so claims of other tests never interfere.</summary>
    private static string NewHost() => $"r{Guid.NewGuid():N}"[..12] + ".example.com";

    private static object At(string host, string path) => Config(host: host, path: path);

    [Fact]
    public async Task Another_tenant_cannot_publish_on_a_claimed_path_nor_on_a_prefix_of_it_nor_under_it()
    {
        var a = api.Tenant("tenant-a");
        var b = api.Tenant("tenant-b");
        var host = NewHost();
        var owner = await api.ReadyModelAsync(a);
        await a.PublishAsync(owner, At(host, "/shop/orders"));
        var intruder = await api.ReadyModelAsync(b);

        foreach (var path in new[] { "/shop/orders", "/shop/orders/", "/shop", "/", "/shop/orders/v2", "/shop/orders/v2/items" })
        {
            var refused = await (await b.PostJson($"/api/models/{intruder}/publish", At(host, path)))
                .AssertError(HttpStatusCode.Conflict, "already claimed by another publication");
            // The owner is named only to its own tenant.
            Assert.DoesNotContain(owner, refused.ToJsonString());
            Assert.DoesNotContain("tenant-a", refused.ToJsonString());
            await (await b.GetAsync($"/api/models/{intruder}/publish")).AssertError(HttpStatusCode.NotFound);
            Assert.Empty(await GatewayObjectsOf("tenant-b", intruder));
        }
        // Other spellings of the host are refused outright, so none slips past the claim.
        await (await b.PostJson($"/api/models/{intruder}/publish", At(host.ToUpperInvariant(), "/shop"))).AssertError(HttpStatusCode.BadRequest, "publicHostname");
        await (await b.PostJson($"/api/models/{intruder}/publish", At(host + ".", "/shop"))).AssertError(HttpStatusCode.BadRequest, "publicHostname");

        // Within its own tenant, the conflict names the publication holding the route.
        var sibling = await api.ReadyModelAsync(a);
        await (await a.PostJson($"/api/models/{sibling}/publish", At(host, "/shop")))
            .AssertError(HttpStatusCode.Conflict, $"tenant-a/{owner}");
        Assert.Empty(await GatewayObjectsOf("tenant-a", sibling));

        // Segments, not characters, and case-sensitive as the gateway's PathPrefix: these are other routes.
        await b.PublishAsync(intruder, At(host, "/shopping"));
        await (await b.DeleteAsync($"/api/models/{intruder}/publish")).AssertOk();
        await b.PublishAsync(intruder, At(host, "/Shop/orders"));
        await (await b.DeleteAsync($"/api/models/{intruder}/publish")).AssertOk();
        // The same path on another host is another route.
        await b.PublishAsync(intruder, At(NewHost(), "/shop/orders"));
        Assert.NotEmpty(await GatewayObjectsOf("tenant-b", intruder));

        await (await b.DeleteAsync($"/api/models/{intruder}")).AssertOk();
        await (await a.DeleteAsync($"/api/models/{sibling}")).AssertOk();
        await (await a.DeleteAsync($"/api/models/{owner}")).AssertOk();
    }

    [Fact]
    public async Task A_route_is_free_again_after_its_owner_unpublishes_and_after_it_deletes_the_model()
    {
        var a = api.Tenant("tenant-a");
        var b = api.Tenant("tenant-b");
        var host = NewHost();
        var owner = await api.ReadyModelAsync(a);
        var other = await api.ReadyModelAsync(b);

        await a.PublishAsync(owner, At(host, "/free"));
        await (await b.PostJson($"/api/models/{other}/publish", At(host, "/free"))).AssertError(HttpStatusCode.Conflict);
        await (await a.DeleteAsync($"/api/models/{owner}/publish")).AssertOk();
        await b.PublishAsync(other, At(host, "/free"));
        await (await b.DeleteAsync($"/api/models/{other}/publish")).AssertOk();

        await a.PublishAsync(owner, At(host, "/free"));
        await (await b.PostJson($"/api/models/{other}/publish", At(host, "/free/sub"))).AssertError(HttpStatusCode.Conflict);
        await (await a.DeleteAsync($"/api/models/{owner}")).AssertOk();
        await b.PublishAsync(other, At(host, "/free/sub"));

        await (await b.DeleteAsync($"/api/models/{other}")).AssertOk();
    }

    [Fact]
    public async Task Updating_a_publication_keeps_its_own_route_and_moves_the_claim_to_a_new_one()
    {
        var a = api.Tenant("tenant-a");
        var b = api.Tenant("tenant-b");
        var host = NewHost();
        var newHost = NewHost();
        var owner = await api.ReadyModelAsync(a);
        var other = await api.ReadyModelAsync(b);
        await a.PublishAsync(owner, At(host, "/v1/app"));

        // Re-claiming its own route, also into a path inside it, is no conflict.
        await (await a.PutJson($"/api/models/{owner}/publish", new { config = new { publicHostname = host, externalPath = "/v1/app" } })).AssertOk();
        await (await a.PutJson($"/api/models/{owner}/publish", new { config = new { externalPath = "/v1/app/next" } })).AssertOk();
        // The old path is released once the move succeeded; the new one is held.
        await (await b.PostJson($"/api/models/{other}/publish", At(host, "/v1/app/next/x"))).AssertError(HttpStatusCode.Conflict);
        await b.PublishAsync(other, At(host, "/v1/app/old"));

        // A move onto another tenant's route is refused and changes nothing.
        await (await a.PutJson($"/api/models/{owner}/publish", new { config = new { externalPath = "/v1/app/old" } }))
            .AssertError(HttpStatusCode.Conflict, "already claimed by another publication");
        var kept = await (await a.GetAsync($"/api/models/{owner}/publish")).AssertOk();
        Assert.Equal($"https://{host}/v1/app/next", kept["externalUrl"]!.GetValue<string>());

        // Moving to another host releases the old host's route.
        await (await a.PutJson($"/api/models/{owner}/publish", new { config = new { publicHostname = newHost } })).AssertOk();
        await (await b.DeleteAsync($"/api/models/{other}/publish")).AssertOk();
        await b.PublishAsync(other, At(host, "/v1/app/next"));
        await (await b.PutJson($"/api/models/{other}/publish", new { config = new { publicHostname = newHost } }))
            .AssertError(HttpStatusCode.Conflict);

        await (await b.DeleteAsync($"/api/models/{other}")).AssertOk();
        await (await a.DeleteAsync($"/api/models/{owner}")).AssertOk();
    }

    [Fact]
    public async Task Openai_publications_on_one_host_conflict_on_the_model_header_whatever_their_paths()
    {
        var a = api.Tenant("tenant-a");
        var b = api.Tenant("tenant-b");
        var host = NewHost();
        var name = await api.ReadyModelAsync(a, framework: "huggingface");
        await api.ReadyModelAsync(b, framework: "huggingface", name: name);
        await a.PublishAsync(name, At(host, "/llm/a"));

        // The AIGatewayRoute matches on the model header alone: another path does not set it apart.
        await (await b.PostJson($"/api/models/{name}/publish", At(host, "/llm/b")))
            .AssertError(HttpStatusCode.Conflict, $"Model '{name}'");
        Assert.Empty(await GatewayObjectsOf("tenant-b", name));
        // Another model name on the same host, or the same name on another host, is another route.
        var second = await api.ReadyModelAsync(b, framework: "huggingface");
        await b.PublishAsync(second, At(host, "/llm/a"));
        await b.PublishAsync(name, At(NewHost(), "/llm/b"));

        await (await b.DeleteAsync($"/api/models/{second}")).AssertOk();
        await (await b.DeleteAsync($"/api/models/{name}")).AssertOk();
        await (await a.DeleteAsync($"/api/models/{name}")).AssertOk();
    }

    /// <summary>Every gateway object labelled with the tenant's model, in the gateway namespace and the tenant's own.</summary>
    private async Task<List<string>> GatewayObjectsOf(string tenant, string model)
    {
        var kube = api.Kubernetes();
        var found = new List<string>();
        var kinds = new (string Group, string Version, string Plural, string Ns)[]
        {
            ("gateway.networking.k8s.io", "v1", "httproutes", GatewayNamespace),
            ("aigateway.envoyproxy.io", "v1alpha1", "aigatewayroutes", GatewayNamespace),
            ("aigateway.envoyproxy.io", "v1alpha1", "aiservicebackends", GatewayNamespace),
            ("gateway.envoyproxy.io", "v1alpha1", "backendtrafficpolicies", GatewayNamespace),
            ("gateway.envoyproxy.io", "v1alpha1", "securitypolicies", GatewayNamespace),
            ("gateway.networking.k8s.io", "v1beta1", "referencegrants", tenant),
        };
        foreach (var (group, version, plural, ns) in kinds)
        {
            var list = await kube.CustomObjects.ListNamespacedCustomObjectAsync(group, version, ns, plural,
                labelSelector: $"inference-in-a-box.io/tenant={tenant},inference-in-a-box.io/model={model}");
            var items = JsonNode.Parse(((JsonElement)list).GetRawText())!["items"]!.AsArray();
            found.AddRange(items.Select(i => $"{plural}/{i!["metadata"]!["name"]}"));
        }
        return found;
    }
}
