using System.Net;
using System.Text.Json.Nodes;

namespace KubeEmulator.Tests;

/// <summary>The OpenAPI documents kubectl reads: the v3 index, group-version documents, and the v2 document.</summary>
public sealed class OpenApiTests(EmulatorFixture emulator) : IClassFixture<EmulatorFixture>
{
    private async Task<JsonObject> GetAsync(string path) =>
        JsonNode.Parse(await emulator.Http.GetStringAsync(emulator.BaseAddress + path))!.AsObject();

    [Fact]
    public async Task Every_served_group_version_has_a_v3_document_whose_patch_declares_fieldValidation()
    {
        var index = (await GetAsync("/openapi/v3"))["paths"]!.AsObject();
        Assert.Contains("api/v1", index.Select(p => p.Key));
        Assert.Contains("apis/policy/v1", index.Select(p => p.Key));

        var url = index["apis/serving.kserve.io/v1beta1"]!["serverRelativeURL"]!.GetValue<string>();
        Assert.Contains("?hash=", url);
        var document = await GetAsync(url);
        var patch = document["paths"]!["/apis/serving.kserve.io/v1beta1/namespaces/{namespace}/inferenceservices/{name}"]!["patch"]!;
        Assert.Equal("InferenceService", patch["x-kubernetes-group-version-kind"]!["kind"]!.GetValue<string>());
        Assert.Contains("fieldValidation", patch["parameters"]!.AsArray().Select(p => p!["name"]!.GetValue<string>()));

        // The CRD's schema, named as the apiserver names it, with ObjectMeta alongside for explain.
        var schemas = document["components"]!["schemas"]!.AsObject();
        var isvc = schemas["io.kserve.serving.v1beta1.InferenceService"]!;
        Assert.Equal("v1beta1", isvc["x-kubernetes-group-version-kind"]![0]!["version"]!.GetValue<string>());
        Assert.NotNull(isvc["properties"]!["spec"]!["properties"]!["predictor"]);
        Assert.NotNull(schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]);
    }

    [Fact]
    public async Task Built_in_documents_carry_the_published_definitions_with_references_that_resolve()
    {
        var document = await GetAsync("/openapi/v3/apis/apps/v1");
        var schemas = document["components"]!["schemas"]!.AsObject();
        var spec = schemas["io.k8s.api.apps.v1.Deployment"]!["properties"]!["spec"]!;
        Assert.Equal("#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec", spec["allOf"]![0]!["$ref"]!.GetValue<string>());
        foreach (var reference in References(document))
            Assert.True(schemas.ContainsKey(reference["#/components/schemas/".Length..]), reference);
    }

    [Fact]
    public async Task V2_is_JSON_with_every_kind_and_a_protobuf_only_request_is_406()
    {
        var document = await GetAsync("/openapi/v2");
        var definitions = document["definitions"]!.AsObject();
        Assert.NotNull(definitions["io.k8s.api.policy.v1.PodDisruptionBudget"]);
        Assert.NotNull(definitions["io.kserve.serving.v1beta1.InferenceService"]);

        using var request = new HttpRequestMessage(HttpMethod.Get, emulator.BaseAddress + "/openapi/v2");
        request.Headers.TryAddWithoutValidation("Accept", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf");
        using var response = await emulator.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.NotAcceptable, response.StatusCode);
    }

    private static IEnumerable<string> References(JsonNode? node) => node switch
    {
        JsonObject o => o.SelectMany(p => p.Key == "$ref" ? [p.Value!.GetValue<string>()] : References(p.Value)),
        JsonArray a => a.SelectMany(References),
        _ => [],
    };
}
