using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Azure.Data.Tables;
using Inference.TestSupport;
using k8s;

namespace Inference.Api.Tests;

/// <summary>No input makes a 500: every broken body, field or parameter is a 4xx in the contract's shape, and a
/// storage outage is a 503 that says when to retry.</summary>
[Collection(ApiCollection.Name)]
public sealed class BadInputTests(ApiFixture api)
{
    [Fact]
    public async Task A_name_with_a_trailing_newline_is_refused_and_nothing_is_created()
    {
        var name = PublishingSupport.NewName();
        var response = await api.Tenant("tenant-a").PostRaw("/api/models",
            $$"""{"name":"{{name}}\n","framework":"sklearn","storageUri":"gs://kfserving-examples/models/sklearn/1.0/model"}""");
        await response.AssertError(HttpStatusCode.BadRequest, "name");

        var list = (System.Text.Json.JsonElement)await api.Kubernetes().CustomObjects.ListNamespacedCustomObjectAsync(
            "serving.kserve.io", "v1beta1", "tenant-a", "inferenceservices");
        Assert.DoesNotContain(list.GetProperty("items").EnumerateArray(),
            i => i.GetProperty("metadata").GetProperty("name").GetString()!.StartsWith(name, StringComparison.Ordinal));
        // The same rule guards every namespace a caller names.
        await (await api.Admin().GetAsync("/api/models?namespace=tenant-a%0A")).AssertError(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task A_null_inside_a_map_or_a_list_of_a_body_is_a_400_naming_it()
    {
        var client = api.Tenant("tenant-a");
        var name = await api.ReadyModelAsync(client);
        var nullMetadata = """{"config":{"metadata":{"a":null}}}""";
        var error = await (await client.PostRaw($"/api/models/{name}/publish", nullMetadata)).AssertError(HttpStatusCode.BadRequest);
        Assert.Equal("Field 'config.metadata.a' must not be null", error["details"]!.GetValue<string>());
        await client.PublishAsync(name);
        await (await client.PutAsync($"/api/models/{name}/publish", Json(nullMetadata))).AssertError(HttpStatusCode.BadRequest, "config.metadata.a");
        await (await client.PutAsync($"/api/models/{name}/publish", Json("""{"config":{"authentication":{"allowedTenants":[null]}}}""")))
            .AssertError(HttpStatusCode.BadRequest, "config.authentication.allowedTenants[0]");
    }

    /// <summary>Every POST and PUT of the contract (key validation has its own tests) with bodies a careless or hostile
    /// client sends: each answer is a 4xx with {error, details}.</summary>
    [Fact]
    public async Task Every_body_endpoint_answers_broken_bodies_with_a_4xx_in_the_contract_shape()
    {
        var tenant = api.Tenant("tenant-a");
        var name = await api.ReadyModelAsync(tenant);
        await tenant.PublishAsync(name);
        var huge = new string('x', 70 * 1024);
        var bodies = new[]
        {
            "{", """{"name":""", """{"config":{"metadata":{"a":""", "[1,2]", "null", "42", "\"text\"", "{}}", "{\"a\":1}x",
            """{"name":5,"framework":[],"minReplicas":"1","config":"x","command":{},"inputData":[],"username":false}""",
            """{"name":null,"framework":null,"config":{"rateLimiting":{"requestsPerMinute":1e40}},"inputData":{"x":null}}""",
            """{"minReplicas":2147483648,"config":{"rateLimiting":null,"authentication":{"allowedTenants":[1]}}}""",
            """{"config":{"metadata":{"a":{"b":1}}},"connectionSettings":{"useCustom":"yes"}}""",
            """{"inputData":{"x":1},"connectionSettings":{"headers":{"X-A":null},"useCustom":true,"host":"h"}}""",
            $$$"""{"name":"{{{huge}}}","storageUri":"{{{huge}}}","command":"{{{huge}}}","config":{"externalPath":"{{{huge}}}"}}""",
            new string('[', 100) + new string(']', 100),
            "\"\\uD800\"", "{\"name\":\"\u0000\"}",
        };
        var endpoints = new (HttpClient Client, HttpMethod Method, string Path)[]
        {
            (tenant, HttpMethod.Post, "/api/models"),
            (tenant, HttpMethod.Put, $"/api/models/{name}"),
            (tenant, HttpMethod.Post, $"/api/models/{name}/publish"),
            (tenant, HttpMethod.Put, $"/api/models/{name}/publish"),
            (tenant, HttpMethod.Post, $"/api/models/{name}/publish/rotate-key"),
            (tenant, HttpMethod.Post, $"/api/models/{name}/predict"),
            (api.Admin(), HttpMethod.Post, "/api/admin/kubectl"),
            (api.Client(), HttpMethod.Post, "/api/admin/login"),
        };
        foreach (var (client, method, path) in endpoints)
        {
            foreach (var body in bodies)
            {
                var response = await client.SendAsync(new HttpRequestMessage(method, path) { Content = Json(body) });
                var text = await response.Content.ReadAsStringAsync();
                var status = (int)response.StatusCode;
                // A body that happens to be acceptable somewhere (rotate-key takes {}) may succeed; none may fail as the server's fault.
                Assert.True(status < 500, $"{method} {path} with {Short(body)}: {status} {text}");
                if (status >= 400)
                {
                    var json = JsonNode.Parse(text)!;
                    Assert.True(json["error"] is not null && json["details"] is not null, $"{method} {path} with {Short(body)}: {text}");
                }
            }
        }
    }

    [Fact]
    public async Task A_body_that_cannot_be_read_is_a_400_in_the_contract_shape()
    {
        // Chunked encoding with a chunk size that is not hexadecimal: the server fails reading the body itself.
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(api.BaseAddress.Host, api.BaseAddress.Port);
        var request = $"POST /api/models HTTP/1.1\r\nHost: {api.BaseAddress.Authority}\r\nAuthorization: Bearer {api.Tokens.Tenant("tenant-a")}\r\n"
            + "Connection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{\"name\":\"x\"}\r\n0\r\n\r\n";
        await socket.SendAsync(Encoding.ASCII.GetBytes(request));
        var answer = new StringBuilder();
        var buffer = new byte[4096];
        int read;
        while ((read = await socket.ReceiveAsync(buffer)) > 0)
        {
            answer.Append(Encoding.UTF8.GetString(buffer, 0, read));
        }
        var text = answer.ToString();
        Assert.StartsWith("HTTP/1.1 400", text);
        var json = JsonNode.Parse(text[text.IndexOf('{')..(text.LastIndexOf('}') + 1)])!;
        Assert.NotNull(json["error"]);
        Assert.NotNull(json["details"]);
    }

    [Fact]
    public async Task A_continuation_token_the_service_did_not_issue_is_a_400()
    {
        var client = api.Tenant("tenant-a");
        foreach (var token in new[] { "abc", "tenant-a 1", "~all 0000000000000000000-00000000", "0000000000000000000-0000000g", "' or 1 eq 1" })
        {
            await (await client.GetAsync($"/api/audit?continuationToken={Uri.EscapeDataString(token)}"))
                .AssertError(HttpStatusCode.BadRequest, "continuationToken");
        }
    }

    [Fact]
    public async Task The_audit_trail_unreadable_is_a_503_with_Retry_After()
    {
        var client = api.Tenant("tenant-a");
        await (await client.GetAsync("/api/audit")).AssertOk();
        var tables = new TableServiceClient(TestEnvironment.StorageConnectionString);
        var audit = api.TablePrefix + "audit";
        await tables.DeleteTableAsync(audit);
        try
        {
            var response = await client.GetAsync("/api/audit");
            await response.AssertError(HttpStatusCode.ServiceUnavailable, "audit");
            Assert.NotNull(response.Headers.RetryAfter);
        }
        finally
        {
            await TestEnvironment.Eventually(async () =>
            {
                try
                {
                    await tables.CreateTableIfNotExistsAsync(audit);
                    return true;
                }
                catch (Azure.RequestFailedException)
                {
                    return false;
                }
            }, created => created, what: "the audit table to be restored");
        }
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private static string Short(string body) => body.Length > 60 ? body[..60] + "..." : body;
}
