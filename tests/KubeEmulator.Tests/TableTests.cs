using System.Text.Json.Nodes;
using static KubeEmulator.Tests.EmulatorFixture;

namespace KubeEmulator.Tests;

/// <summary>Server-side Tables as kubectl get asks for them.</summary>
public sealed class TableTests(EmulatorFixture emulator) : IClassFixture<EmulatorFixture>
{
    private const string TableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

    private async Task<JsonObject> TableAsync(string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, emulator.BaseAddress + path);
        request.Headers.TryAddWithoutValidation("Accept", TableAccept);
        using var response = await emulator.Http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();
    }

    private static List<string> Columns(JsonObject table) =>
        table["columnDefinitions"]!.AsArray().Select(c => c!["name"]!.GetValue<string>()).ToList();

    [Fact]
    public async Task Inference_services_show_the_CRDs_printer_columns_evaluated_by_JSONPath()
    {
        var ns = await emulator.NewNamespaceAsync();
        await emulator.CreateIsvcAsync(ns, Isvc("iris"));
        await EventuallyAsync(() => emulator.GetIsvcAsync(ns, "iris"), o => o["status"]?["url"] is not null);

        var table = await TableAsync($"/apis/{Group}/{IsvcVersion}/namespaces/{ns}/{Plural}");

        Assert.Equal("Table", table["kind"]!.GetValue<string>());
        Assert.Equal(["Name", "URL", "Ready", "Prev", "Latest", "PrevRolledoutRevision", "LatestReadyRevision", "Age"], Columns(table));
        var cells = table["rows"]![0]!["cells"]!.AsArray();
        Assert.Equal("iris", cells[0]!.GetValue<string>());
        Assert.EndsWith($"/serving/{ns}/iris", cells[1]!.GetValue<string>());
        Assert.Equal("True", cells[2]!.GetValue<string>());
        Assert.Null(cells[3]);
        Assert.Matches("^[0-9]+s$", cells[7]!.GetValue<string>());
        // includeObject defaults to Metadata.
        Assert.Equal("PartialObjectMetadata", table["rows"]![0]!["object"]!["kind"]!.GetValue<string>());
    }

    [Fact]
    public async Task Built_in_kinds_have_their_printer_columns_and_includeObject_is_honoured()
    {
        Assert.Equal(["Name", "Status", "Roles", "Age", "Version", "Internal-IP", "External-IP"], Columns(await TableAsync("/api/v1/nodes")));
        var nodes = await TableAsync("/api/v1/nodes?includeObject=None");
        Assert.Equal("Ready", nodes["rows"]![0]!["cells"]![1]!.GetValue<string>());
        Assert.Null(nodes["rows"]![0]!["object"]);

        var ns = await emulator.NewNamespaceAsync();
        Assert.Equal(["Name", "Status", "Age"], Columns(await TableAsync($"/api/v1/namespaces/{ns}")));
        await emulator.CreateIsvcAsync(ns, Isvc("iris"));
        await EventuallyAsync(() => emulator.GetIsvcAsync(ns, "iris"), o => o["status"]?["url"] is not null);

        var pods = await TableAsync($"/api/v1/namespaces/{ns}/pods?includeObject=Object");
        Assert.Equal(["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node"], Columns(pods));
        Assert.Equal("Pod", pods["rows"]![0]!["object"]!["kind"]!.GetValue<string>());
        Assert.Equal(["Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images"], Columns(await TableAsync($"/apis/apps/v1/namespaces/{ns}/deployments")));
        var services = await TableAsync($"/api/v1/namespaces/{ns}/services");
        Assert.Equal(["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"], Columns(services));
        Assert.Equal("ClusterIP", services["rows"]![0]!["cells"]![1]!.GetValue<string>());

        using var bad = new HttpRequestMessage(HttpMethod.Get, $"{emulator.BaseAddress}/api/v1/nodes?includeObject=All");
        bad.Headers.TryAddWithoutValidation("Accept", TableAccept);
        using var response = await emulator.Http.SendAsync(bad);
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Theory]
    [InlineData(0, "0s")]
    [InlineData(119, "119s")]
    [InlineData(183, "3m3s")]
    [InlineData(600, "10m")]
    [InlineData(3 * 3600 + 600, "3h10m")]
    [InlineData(50 * 3600, "2d2h")]
    [InlineData(400 * 86400, "400d")]
    public void Ages_read_as_kubectl_shows_them(int seconds, string expected) =>
        Assert.Equal(expected, KubeEmulator.Tables.HumanDuration.Format(TimeSpan.FromSeconds(seconds)));
}
