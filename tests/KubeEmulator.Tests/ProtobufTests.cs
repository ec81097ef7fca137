using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Google.Protobuf;
using KubeEmulator.OpenApi;
using KubeEmulator.Protobuf;
using static KubeEmulator.Tests.EmulatorFixture;

namespace KubeEmulator.Tests;

/// <summary>
/// Request bodies in Kubernetes' protobuf form, as typed clients write them: kubectl's generators end to end, the
/// envelope and its failures over HTTP, and the embedded definitions checked against the OpenAPI document.
/// </summary>
public sealed class ProtobufTests(EmulatorFixture emulator) : IClassFixture<EmulatorFixture>
{
    private readonly Kubectl _kubectl = new(emulator);

    private async Task<JsonObject> GetJsonAsync(params string[] args) => JsonNode.Parse(await _kubectl.OkAsync([.. args, "-o", "json"]))!.AsObject();

    [Fact]
    public async Task Kubectl_create_generators_write_protobuf_and_the_objects_read_as_their_JSON_would()
    {
        var ns = $"pb-{Guid.NewGuid():N}"[..20];
        Assert.Contains($"namespace/{ns} created", await _kubectl.OkAsync("create", "namespace", ns));
        await _kubectl.OkAsync("-n", ns, "create", "configmap", "settings", "--from-literal=a=1", "--from-literal=empty=");
        await _kubectl.OkAsync("-n", ns, "create", "secret", "generic", "creds", "--from-literal=password=s3cret");
        await _kubectl.OkAsync("-n", ns, "create", "serviceaccount", "runner");
        await _kubectl.OkAsync("-n", ns, "create", "deployment", "web", "--image=nginx:1.27", "--replicas=0", "--port=80");
        await _kubectl.OkAsync("-n", ns, "create", "role", "reader", "--verb=get,list", "--resource=pods,deployments.apps");
        await _kubectl.OkAsync("-n", ns, "create", "rolebinding", "reader", "--role=reader", $"--serviceaccount={ns}:runner");
        await _kubectl.OkAsync("-n", ns, "create", "service", "clusterip", "web", "--tcp=80:8080");
        await _kubectl.OkAsync("-n", ns, "create", "poddisruptionbudget", "web", "--selector=app=web", "--min-available=50%");

        Assert.Equal("Active", (await GetJsonAsync("get", "namespace", ns))["status"]!["phase"]!.GetValue<string>());

        var configMap = await GetJsonAsync("-n", ns, "get", "configmap", "settings");
        Assert.Equal("1", configMap["data"]!["a"]!.GetValue<string>());
        Assert.Equal("", configMap["data"]!["empty"]!.GetValue<string>()); // an empty value in a map is a value

        var secret = await GetJsonAsync("-n", ns, "get", "secret", "creds");
        Assert.Equal(Convert.ToBase64String("s3cret"u8.ToArray()), secret["data"]!["password"]!.GetValue<string>());
        Assert.Equal("Opaque", secret["type"]!.GetValue<string>());

        var deployment = await GetJsonAsync("-n", ns, "get", "deployment", "web");
        Assert.Equal(0, deployment["spec"]!["replicas"]!.GetValue<int>()); // a pointer's zero is what the client asked for
        var container = deployment["spec"]!["template"]!["spec"]!["containers"]![0]!.AsObject();
        Assert.Equal("nginx:1.27", container["image"]!.GetValue<string>());
        var port = container["ports"]![0]!.AsObject();
        Assert.Equal(80, port["containerPort"]!.GetValue<int>());
        Assert.False(port.ContainsKey("hostPort")); // a plain zero is absence, as in the client's JSON
        Assert.False(container.ContainsKey("stdin"));
        Assert.False(deployment["spec"]!["template"]!["metadata"]!.AsObject().ContainsKey("creationTimestamp"));

        var role = await GetJsonAsync("-n", ns, "get", "role", "reader");
        var groups = role["rules"]!.AsArray().Select(r => r!["apiGroups"]![0]!.GetValue<string>()).ToList();
        Assert.Contains("", groups); // the core group: an empty string in a list is kept
        Assert.Contains("apps", groups);

        var binding = await GetJsonAsync("-n", ns, "get", "rolebinding", "reader");
        Assert.Equal("ServiceAccount", binding["subjects"]![0]!["kind"]!.GetValue<string>());
        Assert.Equal(ns, binding["subjects"]![0]!["namespace"]!.GetValue<string>());
        Assert.Equal("Role", binding["roleRef"]!["kind"]!.GetValue<string>());

        var service = await GetJsonAsync("-n", ns, "get", "service", "web");
        Assert.Equal(8080, service["spec"]!["ports"]![0]!["targetPort"]!.GetValue<int>()); // int-or-string, an int
        Assert.Equal("TCP", service["spec"]!["ports"]![0]!["protocol"]!.GetValue<string>());

        var budget = await GetJsonAsync("-n", ns, "get", "poddisruptionbudget", "web");
        Assert.Equal("50%", budget["spec"]!["minAvailable"]!.GetValue<string>()); // int-or-string, a string
    }

    [Fact]
    public async Task A_protobuf_body_for_a_custom_resource_is_415_and_a_broken_one_400_naming_the_problem()
    {
        var ns = await emulator.NewNamespaceAsync();
        var custom = await PostAsync($"/apis/serving.kserve.io/v1beta1/namespaces/{ns}/inferenceservices", Envelope("serving.kserve.io/v1beta1", "InferenceService", []));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, custom.StatusCode);

        var noMagic = await PostAsync($"/api/v1/namespaces/{ns}/configmaps", [1, 2, 3, 4, 5]);
        Assert.Equal(HttpStatusCode.BadRequest, noMagic.StatusCode);
        Assert.Contains("magic", await noMagic.Content.ReadAsStringAsync());

        var truncated = Envelope("v1", "ConfigMap", Message(w => w.WriteTag(1, WireFormat.WireType.LengthDelimited)));
        var broken = await PostAsync($"/api/v1/namespaces/{ns}/configmaps", truncated);
        Assert.Equal(HttpStatusCode.BadRequest, broken.StatusCode);
        Assert.Contains("could not be decoded", await broken.Content.ReadAsStringAsync());

        // A string where the definition has a message (metadata) is refused, not guessed at.
        var wrongType = Envelope("v1", "ConfigMap", Message(w => { w.WriteTag(1, WireFormat.WireType.Varint); w.WriteInt32(7); }));
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync($"/api/v1/namespaces/{ns}/configmaps", wrongType)).StatusCode);
        var list = JsonNode.Parse(await emulator.Http.GetStringAsync($"{emulator.BaseAddress}/api/v1/namespaces/{ns}/configmaps"))!;
        Assert.Empty(list["items"]!.AsArray());
    }

    [Fact]
    public void Every_field_of_the_served_kinds_is_named_as_in_the_OpenAPI_document()
    {
        var schema = ProtoSchema.Embedded;
        var openApi = KubernetesOpenApi.Instance;
        var seen = new HashSet<string>();
        var pending = new Stack<string>();
        foreach (var (apiVersion, kind) in new[]
        {
            ("v1", "Namespace"), ("v1", "Pod"), ("v1", "Service"), ("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "ServiceAccount"),
            ("apps/v1", "Deployment"), ("rbac.authorization.k8s.io/v1", "Role"), ("rbac.authorization.k8s.io/v1", "RoleBinding"),
            ("rbac.authorization.k8s.io/v1", "ClusterRole"), ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
            ("policy/v1", "PodDisruptionBudget"), ("networking.k8s.io/v1", "NetworkPolicy"), ("autoscaling/v2", "HorizontalPodAutoscaler"),
        })
        {
            pending.Push(schema.ForKind(apiVersion, kind)?.FullName ?? throw new Xunit.Sdk.XunitException($"no message for {apiVersion} {kind}"));
        }
        var checkedFields = 0;
        while (pending.TryPop(out var name))
        {
            if (!seen.Add(name) || schema.Find(name) is not { } message) continue;
            var definition = openApi.Definitions.GetValueOrDefault("io." + name.Replace("k8s.io.", "k8s.", StringComparison.Ordinal));
            if (definition?["properties"] is not JsonObject properties) continue; // times, quantities, int-or-string: JSON scalars
            foreach (var field in message.Fields.Values)
            {
                if (field.Inline)
                {
                    // Its fields are the parent's: checked against the parent's properties.
                    foreach (var inlined in schema.Find(field.Type)!.Fields.Values)
                        Assert.True(properties.ContainsKey(inlined.Name), $"{name}.{inlined.Name} (inlined) is not a property of the OpenAPI definition");
                    pending.Push(field.Type);
                    continue;
                }
                Assert.True(properties.ContainsKey(field.Name), $"{name}.{field.Name} is not a property of the OpenAPI definition");
                checkedFields++;
                if (!ProtoSchema.IsScalar(field.Type)) pending.Push(field.Type);
            }
        }
        Assert.True(checkedFields > 500, $"only {checkedFields} fields checked");
    }

    [Theory]
    [InlineData(0L, "0s")]
    [InlineData(1_500_000_000L, "1.5s")]
    [InlineData(90_000_000_000L, "1m30s")]
    [InlineData(3_600_000_000_000L, "1h0m0s")]
    [InlineData(250_000_000L, "250ms")]
    [InlineData(-2_000_000_000L, "-2s")]
    public void Durations_read_as_Go_prints_them(long nanoseconds, string text) => Assert.Equal(text, ProtobufBody.GoDuration(nanoseconds));

    [Fact]
    public void The_embedded_protobuf_definitions_are_the_pinned_ones()
    {
        var folder = Path.Combine(RepoRoot(), "src", "KubeEmulator", "Protobuf", "Spec");
        var notice = File.ReadAllText(Path.Combine(folder, "NOTICE.md"));
        var files = Directory.EnumerateFiles(folder, "*.proto", SearchOption.AllDirectories).Append(Path.Combine(folder, "go-fields.txt")).ToList();
        Assert.Equal(12, files.Count);
        foreach (var file in files)
        {
            var digest = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(file)));
            Assert.Contains($"{digest}  ./{Path.GetRelativePath(folder, file).Replace('\\', '/')}", notice);
        }
    }

    private async Task<HttpResponseMessage> PostAsync(string path, byte[] body)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue(ProtobufBody.ContentType);
        return await emulator.Http.PostAsync(emulator.BaseAddress + path, content);
    }

    private static byte[] Message(Action<CodedOutputStream> write)
    {
        using var buffer = new MemoryStream();
        var output = new CodedOutputStream(buffer);
        write(output);
        output.Flush();
        return buffer.ToArray();
    }

    /// <summary>The <c>k8s\0</c> magic and a runtime.Unknown naming the kind around <paramref name="raw"/>.</summary>
    private static byte[] Envelope(string apiVersion, string kind, byte[] raw)
    {
        var typeMeta = Message(w => { w.WriteTag(1, WireFormat.WireType.LengthDelimited); w.WriteString(apiVersion); w.WriteTag(2, WireFormat.WireType.LengthDelimited); w.WriteString(kind); });
        var unknown = Message(w =>
        {
            w.WriteTag(1, WireFormat.WireType.LengthDelimited);
            w.WriteBytes(ByteString.CopyFrom(typeMeta));
            w.WriteTag(2, WireFormat.WireType.LengthDelimited);
            w.WriteBytes(ByteString.CopyFrom(raw));
        });
        return [.. "k8s\0"u8.ToArray(), .. unknown];
    }
}
