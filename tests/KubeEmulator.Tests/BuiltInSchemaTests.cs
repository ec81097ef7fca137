using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using k8s;
using static KubeEmulator.Tests.EmulatorFixture;

namespace KubeEmulator.Tests;

/// <summary>
/// Built-in kinds validated against the published Kubernetes OpenAPI definitions, and the fieldValidation directive
/// answered as the apiserver answers it (Strict: 400 from the decoder; Warn, the default: a Warning header).
/// </summary>
public sealed class BuiltInSchemaTests(EmulatorFixture emulator) : IClassFixture<EmulatorFixture>
{
    private static JsonObject Deployment(string name) => new()
    {
        ["apiVersion"] = "apps/v1",
        ["kind"] = "Deployment",
        ["metadata"] = new JsonObject { ["name"] = name },
        ["spec"] = new JsonObject
        {
            ["replicas"] = 2,
            ["selector"] = new JsonObject { ["matchLabels"] = new JsonObject { ["app"] = name } },
            ["template"] = new JsonObject
            {
                ["metadata"] = new JsonObject { ["labels"] = new JsonObject { ["app"] = name } },
                ["spec"] = new JsonObject
                {
                    ["containers"] = new JsonArray(new JsonObject
                    {
                        ["name"] = "main", ["image"] = "busybox",
                        ["resources"] = new JsonObject { ["requests"] = new JsonObject { ["cpu"] = 0.5, ["memory"] = "64Mi" } },
                        ["ports"] = new JsonArray(new JsonObject { ["containerPort"] = 8080, ["name"] = "http" }),
                    }),
                },
            },
        },
    };

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, JsonNode body, string contentType = "application/json")
    {
        using var request = new HttpRequestMessage(method, emulator.BaseAddress + path)
        {
            Content = new StringContent(body.ToJsonString(), Encoding.UTF8, contentType),
        };
        return await emulator.Http.SendAsync(request);
    }

    private static async Task<JsonObject> BodyAsync(HttpResponseMessage response) =>
        JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();

    [Fact]
    public void The_embedded_OpenAPI_document_is_the_pinned_one()
    {
        var path = Path.Combine(RepoRoot(), "src", "KubeEmulator", "OpenApi", "Spec", "kubernetes-1.33-swagger.json");
        var digest = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(path)));
        Assert.Equal("07855fb227fcede0acdfff1d7e52fdc4bfd98e99bf2c042c745f68719ade2876", digest);
        Assert.Contains(digest, File.ReadAllText(Path.Combine(Path.GetDirectoryName(path)!, "NOTICE.md")));
    }

    [Fact]
    public async Task The_kinds_the_chart_writes_are_served_in_their_groups()
    {
        foreach (var (groupVersion, names) in new[]
        {
            ("api/v1", new[] { "serviceaccounts", "secrets", "configmaps", "services", "pods", "namespaces", "nodes" }),
            ("apis/apps/v1", ["deployments"]),
            ("apis/rbac.authorization.k8s.io/v1", ["roles", "rolebindings", "clusterroles", "clusterrolebindings"]),
            ("apis/policy/v1", ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
            ("apis/networking.k8s.io/v1", ["networkpolicies"]),
        })
        {
            var list = JsonNode.Parse(await emulator.Http.GetStringAsync($"{emulator.BaseAddress}/{groupVersion}"))!;
            var served = list["resources"]!.AsArray().Select(r => r!["name"]!.GetValue<string>()).ToList();
            Assert.All(names, n => Assert.Contains(n, served));
        }
    }

    [Fact]
    public async Task Strict_field_validation_refuses_an_unknown_field_with_the_decoders_message()
    {
        var ns = await emulator.NewNamespaceAsync();
        var body = Deployment("web");
        body["spec"]!["template"]!["spec"]!["containers"]![0]!["imagePullPolicyy"] = "Always";
        body["spec"]!["strategyy"] = new JsonObject();

        using var response = await SendAsync(HttpMethod.Post, $"/apis/apps/v1/namespaces/{ns}/deployments?fieldValidation=Strict", body);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var status = await BodyAsync(response);
        Assert.Equal("BadRequest", status["reason"]!.GetValue<string>());
        Assert.Equal(
            "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: unknown field \"spec.template.spec.containers[0].imagePullPolicyy\", unknown field \"spec.strategyy\"",
            status["message"]!.GetValue<string>());
        var (code, _) = await FailsAsync(() => emulator.Client.AppsV1.ReadNamespacedDeploymentAsync("web", ns));
        Assert.Equal(404, code);
    }

    [Fact]
    public async Task Without_a_directive_an_unknown_field_is_a_warning_and_is_dropped()
    {
        var ns = await emulator.NewNamespaceAsync();
        var body = Deployment("web");
        body["spec"]!["template"]!["spec"]!["containers"]![0]!["imagePullPolicyy"] = "Always";

        using var response = await SendAsync(HttpMethod.Post, $"/apis/apps/v1/namespaces/{ns}/deployments", body);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(["299 - \"unknown field \\\"spec.template.spec.containers[0].imagePullPolicyy\\\"\""], response.Headers.GetValues("Warning"));
        var stored = await emulator.Client.AppsV1.ReadNamespacedDeploymentAsync("web", ns);
        Assert.Equal("main", stored.Spec.Template.Spec.Containers[0].Name);
        var raw = JsonNode.Parse(await emulator.Http.GetStringAsync($"{emulator.BaseAddress}/apis/apps/v1/namespaces/{ns}/deployments/web"))!;
        Assert.Null(raw["spec"]!["template"]!["spec"]!["containers"]![0]!["imagePullPolicyy"]);
    }

    [Fact]
    public async Task Ignore_drops_unknown_fields_silently_and_a_bad_directive_is_422()
    {
        var ns = await emulator.NewNamespaceAsync();
        var body = Deployment("web");
        body["spec"]!["bogus"] = 1;
        using (var response = await SendAsync(HttpMethod.Post, $"/apis/apps/v1/namespaces/{ns}/deployments?fieldValidation=Ignore", body))
        {
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            Assert.False(response.Headers.Contains("Warning"));
        }

        using var bad = await SendAsync(HttpMethod.Post, $"/apis/apps/v1/namespaces/{ns}/deployments?fieldValidation=strict", Deployment("other"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, bad.StatusCode);
        Assert.Equal(
            "CreateOptions.meta.k8s.io \"\" is invalid: fieldValidation: Unsupported value: \"strict\": supported values: \"Ignore\", \"Strict\", \"Warn\"",
            (await BodyAsync(bad))["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Strict_validation_covers_custom_resources_and_their_metadata()
    {
        var ns = await emulator.NewNamespaceAsync();
        var body = Isvc("iris");
        body["spec"]!["predictor"]!["sklearn"]!["storageUrl"] = "gs://x";
        body["metadata"]!["labelz"] = new JsonObject();

        using var response = await SendAsync(HttpMethod.Post, $"/apis/{Group}/{IsvcVersion}/namespaces/{ns}/{Plural}?fieldValidation=Strict", body);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(
            "InferenceService in version \"v1beta1\" cannot be handled as a InferenceService: strict decoding error: unknown field \"metadata.labelz\", unknown field \"spec.predictor.sklearn.storageUrl\"",
            (await BodyAsync(response))["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_value_of_the_wrong_type_is_a_decode_error_and_a_missing_required_field_is_422()
    {
        var ns = await emulator.NewNamespaceAsync();
        var body = Deployment("web");
        body["spec"]!["replicas"] = "two";
        using (var response = await SendAsync(HttpMethod.Post, $"/apis/apps/v1/namespaces/{ns}/deployments", body))
        {
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal(
                "Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32",
                (await BodyAsync(response))["message"]!.GetValue<string>());
        }

        var binding = new JsonObject
        {
            ["apiVersion"] = "rbac.authorization.k8s.io/v1",
            ["kind"] = "RoleBinding",
            ["metadata"] = new JsonObject { ["name"] = "rb" },
            ["roleRef"] = new JsonObject { ["apiGroup"] = "rbac.authorization.k8s.io", ["kind"] = "Role", ["name"] = "r" },
            ["subjects"] = new JsonArray(new JsonObject { ["kind"] = "ServiceAccount" }),
        };
        using var invalid = await SendAsync(HttpMethod.Post, $"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings", binding);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, invalid.StatusCode);
        var status = await BodyAsync(invalid);
        Assert.Equal("RoleBinding.rbac.authorization.k8s.io \"rb\" is invalid: subjects[0].name: Required value", status["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_PodDisruptionBudget_and_a_NetworkPolicy_round_trip_and_a_quantity_is_checked()
    {
        var ns = await emulator.NewNamespaceAsync();
        var pdb = new JsonObject
        {
            ["apiVersion"] = "policy/v1",
            ["kind"] = "PodDisruptionBudget",
            ["metadata"] = new JsonObject { ["name"] = "silo" },
            ["spec"] = new JsonObject { ["maxUnavailable"] = 1, ["selector"] = new JsonObject { ["matchLabels"] = new JsonObject { ["app"] = "silo" } }, ["unhealthyPodEvictionPolicy"] = "AlwaysAllow" },
        };
        using (var created = await SendAsync(HttpMethod.Post, $"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets?fieldValidation=Strict", pdb))
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var policy = new JsonObject
        {
            ["apiVersion"] = "networking.k8s.io/v1",
            ["kind"] = "NetworkPolicy",
            ["metadata"] = new JsonObject { ["name"] = "silo" },
            ["spec"] = new JsonObject
            {
                ["podSelector"] = new JsonObject(),
                ["policyTypes"] = new JsonArray("Ingress"),
                ["ingress"] = new JsonArray(new JsonObject { ["ports"] = new JsonArray(new JsonObject { ["port"] = "http" }, new JsonObject { ["port"] = 11111, ["protocol"] = "TCP" }) }),
            },
        };
        using (var created = await SendAsync(HttpMethod.Post, $"/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies?fieldValidation=Strict", policy))
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);

        var body = Deployment("web");
        body["spec"]!["template"]!["spec"]!["containers"]![0]!["resources"]!["requests"]!["memory"] = "64 Mi";
        using var bad = await SendAsync(HttpMethod.Post, $"/apis/apps/v1/namespaces/{ns}/deployments", body);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("quantities must match the regular expression", (await BodyAsync(bad))["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_merge_patch_that_adds_an_unknown_field_is_refused_under_Strict()
    {
        var ns = await emulator.NewNamespaceAsync();
        using (await SendAsync(HttpMethod.Post, $"/apis/apps/v1/namespaces/{ns}/deployments", Deployment("web"))) { }
        var patch = new JsonObject { ["spec"] = new JsonObject { ["replicaz"] = 3 } };

        using var response = await SendAsync(HttpMethod.Patch, $"/apis/apps/v1/namespaces/{ns}/deployments/web?fieldValidation=Strict", patch, "application/merge-patch+json");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: unknown field \"spec.replicaz\"",
            (await BodyAsync(response))["message"]!.GetValue<string>());
    }
}
