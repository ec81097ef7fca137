using System.Net;
using System.Text.Json.Nodes;
using k8s;

namespace KubeEmulator.Tests;

/// <summary>
/// Query parameters converted as the apiserver's parameter codec converts them: a boolean is false only when absent,
/// "0" or "false" in any case (Convert_Slice_string_To_bool; never a 400), integers are strconv.ParseInt (400 otherwise).
/// </summary>
public sealed class QueryParameterTests(EmulatorFixture emulator) : IClassFixture<EmulatorFixture>
{
    /// <summary>Reads the first line of the response: a watch event when a watch started, else the whole list.</summary>
    private async Task<(HttpStatusCode Code, JsonObject First)> FirstAsync(string query)
    {
        var ns = await emulator.NewNamespaceAsync();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{emulator.BaseAddress}/api/v1/namespaces?fieldSelector=metadata.name%3D{ns}&{query}");
        using var response = await emulator.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var line = await reader.ReadLineAsync();
        return (response.StatusCode, JsonNode.Parse(line!)!.AsObject());
    }

    [Theory]
    [InlineData("watch=True")]
    [InlineData("watch=TRUE")]
    [InlineData("watch=1")]
    [InlineData("watch=t")]
    [InlineData("watch=")]
    [InlineData("watch=yes")]
    public async Task Any_watch_value_but_false_or_0_starts_a_watch(string query)
    {
        var (code, first) = await FirstAsync(query + "&timeoutSeconds=1");
        Assert.Equal(HttpStatusCode.OK, code);
        Assert.Equal("ADDED", first["type"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("watch=False")]
    [InlineData("watch=FALSE")]
    [InlineData("watch=0")]
    [InlineData("x=1")]
    public async Task False_or_0_or_absent_is_a_list(string query)
    {
        var (code, first) = await FirstAsync(query);
        Assert.Equal(HttpStatusCode.OK, code);
        Assert.Equal("NamespaceList", first["kind"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("limit=abc", "strconv.ParseInt: parsing \"abc\": invalid syntax")]
    [InlineData("limit=1.5", "strconv.ParseInt: parsing \"1.5\": invalid syntax")]
    [InlineData("watch=true&timeoutSeconds=%201", "strconv.ParseInt: parsing \" 1\": invalid syntax")]
    [InlineData("limit=99999999999999999999", "strconv.ParseInt: parsing \"99999999999999999999\": value out of range")]
    public async Task An_integer_Go_would_not_parse_is_400(string query, string message)
    {
        var (code, status) = await FirstAsync(query);
        Assert.Equal(HttpStatusCode.BadRequest, code);
        Assert.Equal(message, status["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Pages_share_the_first_pages_resourceVersion_and_continue_refuses_a_resourceVersion()
    {
        for (var i = 0; i < 3; i++) await emulator.NewNamespaceAsync();
        var first = JsonNode.Parse(await emulator.Http.GetStringAsync($"{emulator.BaseAddress}/api/v1/namespaces?limit=2"))!;
        var token = first["metadata"]!["continue"]!.GetValue<string>();
        await emulator.NewNamespaceAsync();
        var second = JsonNode.Parse(await emulator.Http.GetStringAsync($"{emulator.BaseAddress}/api/v1/namespaces?limit=2&continue={Uri.EscapeDataString(token)}"))!;
        Assert.Equal(first["metadata"]!["resourceVersion"]!.GetValue<string>(), second["metadata"]!["resourceVersion"]!.GetValue<string>());

        using var refused = await emulator.Http.GetAsync($"{emulator.BaseAddress}/api/v1/namespaces?limit=2&resourceVersion=5&continue={Uri.EscapeDataString(token)}");
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
    }

    [Fact]
    public async Task A_dryRun_other_than_All_is_422_and_nothing_is_written()
    {
        var ns = await emulator.NewNamespaceAsync();
        var body = new JsonObject { ["apiVersion"] = "v1", ["kind"] = "ConfigMap", ["metadata"] = new JsonObject { ["name"] = "c" } };
        using var response = await emulator.Http.PostAsync($"{emulator.BaseAddress}/api/v1/namespaces/{ns}/configmaps?dryRun=true",
            new StringContent(body.ToJsonString(), System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var status = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal("CreateOptions.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: []string{\"true\"}: supported values: \"All\"", status["message"]!.GetValue<string>());
        var (code, _) = await EmulatorFixture.FailsAsync(() => emulator.Client.CoreV1.ReadNamespacedConfigMapAsync("c", ns));
        Assert.Equal(404, code);
    }
}
