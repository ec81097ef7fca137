using System.Text.Json.Nodes;
using k8s;
using KubeEmulator.Json;
using static KubeEmulator.Tests.EmulatorFixture;

namespace KubeEmulator.Tests;

public sealed class ValidationTests(EmulatorFixture emulator) : IClassFixture<EmulatorFixture>
{
    public static IEnumerable<object[]> KServeExamples() =>
        Directory.GetFiles(Path.Combine(FixturesDir(), "kserve", "examples"), "*.yaml").Order().Select(f => new object[] { Path.GetFileName(f) });

    [Theory]
    [MemberData(nameof(KServeExamples))]
    public async Task Every_kserve_example_is_accepted(string file)
    {
        var ns = await emulator.NewNamespaceAsync();
        var body = (JsonObject)YamlJson.Parse(File.ReadAllText(Path.Combine(FixturesDir(), "kserve", "examples", file)))!;

        var created = await emulator.CreateIsvcAsync(ns, body);

        Assert.Equal(body["metadata"]!["name"]!.GetValue<string>(), created["metadata"]!["name"]!.GetValue<string>());
        Assert.Equal(1, created["metadata"]!["generation"]!.GetValue<long>());
        Assert.True(JsonNode.DeepEquals(body["spec"], created["spec"]), $"spec of {file} changed on create");
    }

    [Fact]
    public async Task A_final_newline_passes_no_name_rule_nor_CRD_pattern_as_in_Go()
    {
        var ns = await emulator.NewNamespaceAsync();
        var (code, _) = await FailsAsync(() => emulator.CreateIsvcAsync(ns, Isvc("iris\n")));
        Assert.Equal(422, code);

        // The CRD's quantity pattern ends in '$', which Go's RE2 reads as the end of the text.
        var body = Isvc("newline-cpu");
        body["spec"]!["predictor"]!["sklearn"]!["resources"] = new JsonObject { ["limits"] = new JsonObject { ["cpu"] = "1\n" } };
        (code, _) = await FailsAsync(() => emulator.CreateIsvcAsync(ns, body));
        Assert.Equal(422, code);
        body["spec"]!["predictor"]!["sklearn"]!["resources"] = new JsonObject { ["limits"] = new JsonObject { ["cpu"] = "1" } };
        await emulator.CreateIsvcAsync(ns, body);
    }

    [Fact]
    public async Task Wrong_type_for_minReplicas_is_422_with_causes()
    {
        var ns = await emulator.NewNamespaceAsync();
        var body = Isvc("bad-type");
        body["spec"]!["predictor"]!["minReplicas"] = "abc";

        var (code, status) = await FailsAsync(() => emulator.CreateIsvcAsync(ns, body));

        Assert.Equal(422, code);
        Assert.Equal("Invalid", status["reason"]!.GetValue<string>());
        Assert.Equal("InferenceService", status["details"]!["kind"]!.GetValue<string>());
        Assert.Equal(
            "InferenceService.serving.kserve.io \"bad-type\" is invalid: spec.predictor.minReplicas: Invalid value: \"string\": spec.predictor.minReplicas in body must be of type integer: \"string\"",
            status["message"]!.GetValue<string>());
        var cause = status["details"]!["causes"]!.AsArray().Single()!;
        Assert.Equal("FieldValueTypeInvalid", cause["reason"]!.GetValue<string>());
        Assert.Equal("spec.predictor.minReplicas", cause["field"]!.GetValue<string>());
    }

    [Fact]
    public async Task Unknown_enum_value_is_rejected_as_not_supported()
    {
        var ns = await emulator.NewNamespaceAsync();
        var body = Isvc("bad-enum");
        body["spec"]!["predictor"]!["scaleMetric"] = "gpu-temperature";

        var (code, status) = await FailsAsync(() => emulator.CreateIsvcAsync(ns, body));

        Assert.Equal(422, code);
        var cause = status["details"]!["causes"]!.AsArray().Single()!;
        Assert.Equal("FieldValueNotSupported", cause["reason"]!.GetValue<string>());
        Assert.Equal("spec.predictor.scaleMetric", cause["field"]!.GetValue<string>());
        Assert.StartsWith("Unsupported value: \"gpu-temperature\": supported values: \"cpu\"", cause["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Missing_required_field_is_required_value()
    {
        var ns = await emulator.NewNamespaceAsync();
        var body = Isvc("no-predictor");
        body["spec"]!.AsObject().Remove("predictor");

        var (code, status) = await FailsAsync(() => emulator.CreateIsvcAsync(ns, body));

        Assert.Equal(422, code);
        var cause = status["details"]!["causes"]!.AsArray().Single()!;
        Assert.Equal("FieldValueRequired", cause["reason"]!.GetValue<string>());
        Assert.Equal("spec.predictor", cause["field"]!.GetValue<string>());
        Assert.Equal("Required value", cause["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Unknown_fields_are_pruned_not_rejected()
    {
        var ns = await emulator.NewNamespaceAsync();
        var body = Isvc("pruned");
        body["spec"]!["predictor"]!["sklearn"]!["notAField"] = "x";
        body["spec"]!["bogus"] = new JsonObject { ["a"] = 1 };
        body["metadata"]!["notMeta"] = "y";

        var created = await emulator.CreateIsvcAsync(ns, body);

        Assert.Null(created["spec"]!["bogus"]);
        Assert.Null(created["spec"]!["predictor"]!["sklearn"]!["notAField"]);
        Assert.Null(created["metadata"]!["notMeta"]);
        Assert.Equal("gs://kfserving-examples/models/sklearn/1.0/model", created["spec"]!["predictor"]!["sklearn"]!["storageUri"]!.GetValue<string>());
    }

    [Fact]
    public async Task Invalid_names_are_rejected()
    {
        var ns = await emulator.NewNamespaceAsync();

        var (code, status) = await FailsAsync(() => emulator.CreateIsvcAsync(ns, Isvc("Not_A_Name")));

        Assert.Equal(422, code);
        Assert.Contains("metadata.name: Invalid value: \"Not_A_Name\": a lowercase RFC 1123 subdomain", status["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Create_in_missing_namespace_is_404_for_the_namespace()
    {
        var (code, status) = await FailsAsync(() => emulator.CreateIsvcAsync("does-not-exist", Isvc("x")));

        Assert.Equal(404, code);
        Assert.Equal("namespaces \"does-not-exist\" not found", status["message"]!.GetValue<string>());
    }

    public static IEnumerable<object[]> GatewayKinds()
    {
        yield return ["gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute",
            """{"parentRefs":[{"name":"eg","namespace":"envoy-gateway-system"}],"rules":[{"matches":[{"path":{"type":"PathPrefix","value":"/m"}}],"backendRefs":[{"name":"m-predictor","port":80}]}]}""",
            """{"rules":[{"matches":[{"path":{"type":"Sideways","value":"/m"}}]}]}""", "spec.rules[0].matches[0].path.type"];
        yield return ["gateway.envoyproxy.io", "v1alpha1", "backendtrafficpolicies", "BackendTrafficPolicy",
            """{"targetRefs":[{"group":"gateway.networking.k8s.io","kind":"HTTPRoute","name":"r"}],"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":10,"unit":"Minute"}}]}}}""",
            """{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":"ten","unit":"Minute"}}]}}}""", "spec.rateLimit.local.rules[0].limit.requests"];
        yield return ["gateway.envoyproxy.io", "v1alpha1", "securitypolicies", "SecurityPolicy",
            """{"targetRefs":[{"group":"gateway.networking.k8s.io","kind":"HTTPRoute","name":"r"}],"extAuth":{"http":{"backendRefs":[{"name":"auth","namespace":"default","port":8080}],"path":"/authz"}}}""",
            """{"apiKeyAuth":{"credentialRefs":[{"name":"keys"}]}}""", "spec.apiKeyAuth.extractFrom"];
        yield return ["aigateway.envoyproxy.io", "v1alpha1", "aigatewayroutes", "AIGatewayRoute",
            """{"parentRefs":[{"name":"eg"}],"rules":[{"matches":[{"headers":[{"type":"Exact","name":"x-ai-eg-model","value":"m"}]}],"backendRefs":[{"name":"m-backend"}]}]}""",
            """{"rules":[{"backendRefs":[{"name":"m-backend","weight":-1}]}]}""", "spec.rules[0].backendRefs[0].weight"];
        yield return ["gateway.networking.k8s.io", "v1beta1", "referencegrants", "ReferenceGrant",
            """{"from":[{"group":"gateway.networking.k8s.io","kind":"HTTPRoute","namespace":"envoy-gateway-system"}],"to":[{"group":"","kind":"Service","name":"m-predictor"}]}""",
            """{"from":[{"group":"gateway.networking.k8s.io","kind":"HTTPRoute"}],"to":[{"group":"","kind":"Service"}]}""", "spec.from[0].namespace"];
    }

    [Theory]
    [MemberData(nameof(GatewayKinds))]
    public async Task Gateway_kinds_accept_valid_and_reject_invalid_objects(string group, string version, string plural, string kind, string validSpec, string invalidSpec, string invalidField)
    {
        var ns = await emulator.NewNamespaceAsync();
        JsonObject Obj(string name, string spec) => new()
        {
            ["apiVersion"] = $"{group}/{version}",
            ["kind"] = kind,
            ["metadata"] = new JsonObject { ["name"] = name },
            ["spec"] = JsonNode.Parse(spec),
        };

        var created = await emulator.Client.CustomObjects.CreateNamespacedCustomObjectAsync<JsonObject>(Obj("valid", validSpec), group, version, ns, plural);
        Assert.Equal(kind, created["kind"]!.GetValue<string>());

        var (code, status) = await FailsAsync(() =>
            emulator.Client.CustomObjects.CreateNamespacedCustomObjectAsync<JsonObject>(Obj("invalid", invalidSpec), group, version, ns, plural));
        Assert.Equal(422, code);
        Assert.StartsWith($"{kind}.{group} \"invalid\" is invalid", status["message"]!.GetValue<string>());
        Assert.Contains(status["details"]!["causes"]!.AsArray(), c => c!["field"]!.GetValue<string>() == invalidField);
    }

    [Fact]
    public async Task Schema_defaults_are_applied()
    {
        var ns = await emulator.NewNamespaceAsync();
        var route = new JsonObject
        {
            ["apiVersion"] = "gateway.networking.k8s.io/v1",
            ["kind"] = "HTTPRoute",
            ["metadata"] = new JsonObject { ["name"] = "defaults" },
            ["spec"] = new JsonObject { ["rules"] = new JsonArray(new JsonObject { ["backendRefs"] = new JsonArray(new JsonObject { ["name"] = "svc", ["port"] = 80 }) }) },
        };

        var created = await emulator.Client.CustomObjects.CreateNamespacedCustomObjectAsync<JsonObject>(route, "gateway.networking.k8s.io", "v1", ns, "httproutes");

        // The Gateway API CRD defaults rules[].matches to a PathPrefix "/" match and backendRefs[].weight to 1.
        Assert.Equal("PathPrefix", created["spec"]!["rules"]![0]!["matches"]![0]!["path"]!["type"]!.GetValue<string>());
        Assert.Equal(1, created["spec"]!["rules"]![0]!["backendRefs"]![0]!["weight"]!.GetValue<int>());
    }

    [Fact]
    public void Embedded_crds_and_example_copies_match_the_recorded_fixture_digests_and_the_shared_fixtures()
    {
        var digests = File.ReadAllLines(Path.Combine(FixturesDir(), "SHA256SUMS"))
            .Select(line => line.Split("  ", 2))
            .ToDictionary(parts => parts[1], parts => parts[0]);
        var embedded = typeof(KubeEmulatorApp).Assembly;
        var copies = new Dictionary<string, byte[]>();
        // Crds/Authored/ holds CRDs written for the emulator (no fixture exists for them); the rest are verbatim copies.
        foreach (var name in embedded.GetManifestResourceNames().Where(n => n.StartsWith("KubeEmulator.Crds.", StringComparison.Ordinal)
            && !n.StartsWith("KubeEmulator.Crds.Authored.", StringComparison.Ordinal)))
        {
            using var stream = embedded.GetManifestResourceStream(name)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var file = name["KubeEmulator.Crds.".Length..];
            copies[digests.Keys.Single(k => Path.GetFileName(k) == file)] = copy.ToArray();
        }
        foreach (var example in Directory.GetFiles(Path.Combine(FixturesDir(), "kserve", "examples"), "*.yaml"))
        {
            copies[$"kserve/examples/{Path.GetFileName(example)}"] = File.ReadAllBytes(example);
        }
        Assert.Equal(6 + 6, copies.Count);
        Assert.Equal(digests.Keys.Order(), copies.Keys.Order());

        var shared = SharedFixturesDir();
        foreach (var (path, bytes) in copies)
        {
            Assert.Equal(digests[path], Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)));
            if (Directory.Exists(shared))
            {
                Assert.Equal(File.ReadAllBytes(Path.Combine(shared, path)), bytes);
            }
        }
    }
}
