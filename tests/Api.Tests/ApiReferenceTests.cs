using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;

namespace Inference.Api.Tests;

/// <summary>The OpenAPI document describes the service as it answers: every route the contract names is in it with
/// its name, summary, tags and security, and real answers (success and error of each route) validate against the
/// schemas it declares for their status, checked by a JSON-schema validator.</summary>
[Collection(ApiCollection.Name)]
public sealed class ApiReferenceTests(ApiFixture api)
{
    /// <summary>Every route of the contract (../shared/api/management-service-api.txt).</summary>
    public static readonly TheoryData<string, string> ContractRoutes = new()
    {
        { "post", "/api/admin/login" },
        { "get", "/api/models" },
        { "post", "/api/models" },
        { "get", "/api/models/{name}" },
        { "put", "/api/models/{name}" },
        { "delete", "/api/models/{name}" },
        { "post", "/api/models/{name}/predict" },
        { "post", "/api/models/{name}/publish" },
        { "put", "/api/models/{name}/publish" },
        { "get", "/api/models/{name}/publish" },
        { "delete", "/api/models/{name}/publish" },
        { "get", "/api/published-models" },
        { "post", "/api/models/{name}/publish/rotate-key" },
        { "post", "/api/validate-api-key" },
        { "get", "/api/admin/system" },
        { "get", "/api/admin/tenants" },
        { "post", "/api/admin/kubectl" },
    };

    private static readonly string[] RateLimitHeaders = ["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "RateLimit", "RateLimit-Policy"];

    private JsonObject? _document;

    private async Task<JsonObject> DocumentAsync()
    {
        if (_document is null)
        {
            var response = await api.Client().GetAsync("/openapi/v1.json");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            _document = (await response.Json()).AsObject();
        }
        return _document;
    }

    [Theory]
    [MemberData(nameof(ContractRoutes))]
    public async Task Every_route_of_the_contract_is_described(string method, string path)
    {
        var operation = (await DocumentAsync())["paths"]?[path]?[method];
        Assert.True(operation is not null, $"{method.ToUpperInvariant()} {path} is not in the document");
        Assert.False(string.IsNullOrWhiteSpace(operation["operationId"]?.GetValue<string>()), "no name");
        Assert.False(string.IsNullOrWhiteSpace(operation["summary"]?.GetValue<string>()), "no summary");
        Assert.NotEmpty(operation["tags"]!.AsArray());
        var responses = operation["responses"]!.AsObject();
        Assert.Contains(responses, r => r.Key.StartsWith('2'));
        // Every error the route declares has the contract's body (key validation answers in its own shape, but for a
        // 503, which the exception handler writes).
        foreach (var (status, response) in responses.Where(r => r.Key[0] is '4' or '5'))
        {
            var reference = response!["content"]!["application/json"]!["schema"]!["$ref"]!.GetValue<string>();
            Assert.True(reference.EndsWith(path.StartsWith("/api/validate-api-key") && status != "503" ? "/ValidateKeyResponse" : "/ErrorBody"), $"{status}: {reference}");
        }
        if (method is "post" or "put" && path is not ("/api/models/{name}/publish/rotate-key" or "/api/validate-api-key"))
        {
            Assert.True(operation["requestBody"]?["content"]?["application/json"]?["schema"] is not null, "no request body schema");
        }
    }

    [Fact]
    public async Task Every_operation_has_a_unique_name_and_a_success_answer()
    {
        var operations = (await DocumentAsync())["paths"]!.AsObject()
            .SelectMany(p => p.Value!.AsObject().Where(o => o.Value is JsonObject op && op.ContainsKey("responses")).Select(o => (Path: p.Key, Method: o.Key, Operation: o.Value!)))
            .ToList();
        var names = operations.Where(o => o.Path.StartsWith("/api/") || o.Path == "/ws").Select(o => o.Operation["operationId"]?.GetValue<string>()).ToList();
        Assert.DoesNotContain(null, names);
        Assert.Equal(names.Count, names.Distinct().Count());
        foreach (var (path, method, operation) in operations)
        {
            Assert.True(operation["responses"]!.AsObject().Any(r => r.Key[0] is '1' or '2'), $"{method} {path} declares no success");
        }
    }

    [Fact]
    public async Task Security_is_a_bearer_token_except_for_key_validation_and_login()
    {
        var document = await DocumentAsync();
        var scheme = document["components"]!["securitySchemes"]!["bearer"]!;
        Assert.Equal("http", scheme["type"]!.GetValue<string>());
        Assert.Equal("bearer", scheme["scheme"]!.GetValue<string>());
        Assert.Equal("JWT", scheme["bearerFormat"]!.GetValue<string>());
        foreach (var (path, item) in document["paths"]!.AsObject())
        {
            foreach (var (method, operation) in item!.AsObject().Where(o => o.Key is "get" or "post" or "put" or "delete" or "patch" or "head" or "options"))
            {
                // No requirement is written as none at all (the document sets no global one).
                var security = operation!["security"]?.AsArray() ?? [];
                if (path.StartsWith("/api/validate-api-key") || path == "/api/admin/login")
                {
                    Assert.Empty(security);
                }
                else if (path.StartsWith("/api/") || path == "/ws")
                {
                    Assert.True(security.Count == 1 && security[0]!["bearer"] is not null, $"{method} {path}");
                    Assert.True(operation["responses"]!["401"] is not null, $"{method} {path} does not declare its 401");
                    Assert.True(operation["responses"]!["429"]!["headers"]!["Retry-After"] is not null, $"{method} {path} does not declare its 429");
                }
            }
        }
        var validate = document["paths"]!["/api/validate-api-key"]!["post"]!;
        var headers = validate["parameters"]!.AsArray().Where(p => p!["in"]!.GetValue<string>() == "header").Select(p => p!["name"]!.GetValue<string>());
        Assert.Contains("X-API-Key", headers);
        Assert.Contains("X-Tokens", headers);
        Assert.NotNull(validate["responses"]!["200"]!["headers"]!["X-Tenant"]);
        foreach (var header in RateLimitHeaders)
        {
            Assert.NotNull(validate["responses"]!["429"]!["headers"]![header]);
        }
        // Every paged endpoint's paging parameters and their answers' token, under one name.
        foreach (var (path, schema) in new[] { ("/api/models", "ModelListResponse"), ("/api/published-models", "PublishedModelListResponse"),
            ("/api/audit", "AuditPageResponse"), ("/api/admin/audit", "AuditPageResponse") })
        {
            var parameters = document["paths"]![path]!["get"]!["parameters"]!.AsArray();
            Assert.Contains(parameters, p => p!["name"]!.GetValue<string>() == "limit" && p["in"]!.GetValue<string>() == "query" && p["description"] is not null);
            Assert.Contains(parameters, p => p!["name"]!.GetValue<string>() == "continue" && p["in"]!.GetValue<string>() == "query" && p["description"] is not null);
            Assert.NotNull(document["components"]!["schemas"]![schema]!["properties"]!["continue"]);
            // The audit trail's answer repeats the token under its former name for clients written against it.
            Assert.Equal(schema == "AuditPageResponse", document["components"]!["schemas"]![schema]!["properties"]!["continuationToken"] is not null);
        }
        // The tenant scope's query parameter, which no handler binds itself.
        Assert.Contains(document["paths"]!["/api/models/{name}"]!["get"]!["parameters"]!.AsArray(), p => p!["name"]!.GetValue<string>() == "namespace");
        Assert.Contains(document["paths"]!["/api/audit"]!["get"]!["parameters"]!.AsArray(), p => p!["name"]!.GetValue<string>() == "tenant");
    }

    [Fact]
    public async Task Real_answers_of_every_route_validate_against_the_document()
    {
        var document = await DocumentAsync();
        var tenant = api.Tenant("tenant-c");
        var other = api.Tenant("tenant-b");
        var admin = api.Admin();
        var anonymous = api.Client();
        var checks = new List<string>();

        async Task Check(HttpResponseMessage response, string method, string template)
        {
            checks.Add($"{method} {template} {(int)response.StatusCode}");
            await AssertMatchesAsync(document, response, method, template);
        }

        // Models: create, read, list, update, and their errors.
        var name = await api.ReadyModelAsync(tenant);
        await Check(await tenant.GetAsync("/api/models"), "get", "/api/models");
        await Check(await admin.GetAsync("/api/models"), "get", "/api/models");
        await Check(await tenant.GetAsync("/api/models?namespace=tenant-a"), "get", "/api/models");
        await Check(await admin.GetAsync("/api/models?limit=1"), "get", "/api/models");
        await Check(await admin.GetAsync("/api/models?limit=0"), "get", "/api/models");
        await Check(await tenant.GetAsync("/api/models?continue=forged.token"), "get", "/api/models");
        await Check(await tenant.PostJson("/api/models", new { name = "Bad_Name", framework = "sklearn", storageUri = "gs://b/m" }), "post", "/api/models");
        await Check(await tenant.PostJson("/api/models", new { name, framework = "sklearn", storageUri = "gs://b/m" }), "post", "/api/models");
        var created = PublishingSupport.NewName();
        await Check(await tenant.PostJson("/api/models", new { name = created, framework = "sklearn", storageUri = "gs://b/m", minReplicas = 0, maxReplicas = 2 }), "post", "/api/models");
        await Check(await tenant.GetAsync($"/api/models/{name}"), "get", "/api/models/{name}");
        await Check(await tenant.GetAsync("/api/models/no-such-model"), "get", "/api/models/{name}");
        await Check(await anonymous.GetAsync($"/api/models/{name}"), "get", "/api/models/{name}");
        await Check(await tenant.PutJson($"/api/models/{created}", new { maxReplicas = 3 }), "put", "/api/models/{name}");
        await Check(await tenant.PutJson($"/api/models/{created}", new { }), "put", "/api/models/{name}");
        await Check(await tenant.PostRaw($"/api/models/{name}/predict", "{\"inputData\": {\"instances\": [[1.0, 2.0, 3.0, 4.0]]}}"), "post", "/api/models/{name}/predict");
        await Check(await tenant.PostRaw($"/api/models/{name}/predict", "{\"inputData\": 3}"), "post", "/api/models/{name}/predict");

        // Publishing: publish, read, list, update, rotate, unpublish, and their errors.
        var published = await tenant.PostJson($"/api/models/{name}/publish", PublishingSupport.Config());
        var key = (await published.Content.ReadAsStringAsync()) is var text && JsonNode.Parse(text)!["publishedModel"]!["apiKey"]!.GetValue<string>() is { } k ? k : "";
        await Check(published, "post", "/api/models/{name}/publish");
        await Check(await tenant.PostJson($"/api/models/{name}/publish", PublishingSupport.Config()), "post", "/api/models/{name}/publish");
        await Check(await tenant.GetAsync($"/api/models/{name}/publish"), "get", "/api/models/{name}/publish");
        await Check(await other.GetAsync($"/api/models/{name}/publish?namespace=tenant-c"), "get", "/api/models/{name}/publish");
        await Check(await tenant.GetAsync("/api/published-models"), "get", "/api/published-models");
        await Check(await admin.GetAsync("/api/published-models?limit=1"), "get", "/api/published-models");
        await Check(await admin.GetAsync("/api/published-models?limit=x"), "get", "/api/published-models");
        await Check(await tenant.PutJson($"/api/models/{name}/publish", PublishingSupport.Config(rpm: 200)), "put", "/api/models/{name}/publish");
        await Check(await tenant.PutJson($"/api/models/{name}/publish", new { }), "put", "/api/models/{name}/publish");

        // Key validation: admitted, unknown, missing, malformed.
        await Check(await anonymous.ValidateAsync(key), "post", "/api/validate-api-key");
        await Check(await anonymous.ValidateAsync("pk_live_notakey", source: PublishingSupport.NewSource()), "post", "/api/validate-api-key");
        await Check(await anonymous.PostRaw("/api/validate-api-key", "{}"), "post", "/api/validate-api-key");
        await Check(await anonymous.PostRaw("/api/validate-api-key", "{\"apiKey\": 5}"), "post", "/api/validate-api-key");

        await Check(await tenant.PostAsync($"/api/models/{name}/publish/rotate-key", null), "post", "/api/models/{name}/publish/rotate-key");
        await Check(await tenant.PostJson($"/api/models/{name}/publish/rotate-key", new { gracePeriodSeconds = "soon" }), "post", "/api/models/{name}/publish/rotate-key");
        await Check(await tenant.DeleteAsync($"/api/models/{name}/publish"), "delete", "/api/models/{name}/publish");
        await Check(await tenant.DeleteAsync($"/api/models/{name}/publish"), "delete", "/api/models/{name}/publish");
        await Check(await tenant.DeleteAsync($"/api/models/{created}"), "delete", "/api/models/{name}");
        await Check(await tenant.DeleteAsync("/api/models/no-such-model"), "delete", "/api/models/{name}");

        // Admin: login, views, kubectl, audit.
        await Check(await anonymous.PostJson("/api/admin/login", new { username = "admin", password = "password" }), "post", "/api/admin/login");
        await Check(await anonymous.PostJson("/api/admin/login", new { username = "admin" }), "post", "/api/admin/login");
        await Check(await admin.GetAsync("/api/admin/system"), "get", "/api/admin/system");
        await Check(await tenant.GetAsync("/api/admin/system"), "get", "/api/admin/system");
        await Check(await admin.GetAsync("/api/admin/tenants"), "get", "/api/admin/tenants");
        await Check(await admin.PostJson("/api/admin/kubectl", new { command = "get pods -A" }), "post", "/api/admin/kubectl");
        await Check(await admin.PostJson("/api/admin/kubectl", new { command = "delete pod x" }), "post", "/api/admin/kubectl");
        await Check(await admin.GetAsync("/api/admin/audit?tenant=tenant-c&limit=5"), "get", "/api/admin/audit");
        await Check(await tenant.GetAsync("/api/audit?limit=5"), "get", "/api/audit");
        await Check(await tenant.GetAsync("/api/audit?limit=0"), "get", "/api/audit");
        await Check(await tenant.GetAsync("/api/audit?limit=1"), "get", "/api/audit");
        await Check(await tenant.GetAsync("/api/audit?continue=forged.token"), "get", "/api/audit");

        Assert.True(checks.Count >= 40, string.Join("\n", checks));
    }

    /// <summary>The check above can fail: an answer the document does not describe (a field of the wrong type, a field
    /// it does not name, a status it does not declare) is refused.</summary>
    [Fact]
    public async Task The_check_refuses_answers_the_document_does_not_describe()
    {
        var document = await DocumentAsync();
        HttpResponseMessage Answer(HttpStatusCode status, string body) => new(status) { Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json") };
        await AssertMatchesAsync(document, Answer(HttpStatusCode.NotFound, "{\"error\":\"Model not found\"}"), "get", "/api/models/{name}");
        await Assert.ThrowsAnyAsync<Xunit.Sdk.XunitException>(() =>
            AssertMatchesAsync(document, Answer(HttpStatusCode.NotFound, "{\"error\":404}"), "get", "/api/models/{name}"));
        await Assert.ThrowsAnyAsync<Xunit.Sdk.XunitException>(() =>
            AssertMatchesAsync(document, Answer(HttpStatusCode.NotFound, "{\"error\":\"Model not found\",\"stack\":\"...\"}"), "get", "/api/models/{name}"));
        await Assert.ThrowsAnyAsync<Xunit.Sdk.XunitException>(() =>
            AssertMatchesAsync(document, Answer(HttpStatusCode.OK, "{\"models\":[{\"name\":\"m\"}],\"total\":1}"), "get", "/api/models"));
        await Assert.ThrowsAnyAsync<Xunit.Sdk.XunitException>(() =>
            AssertMatchesAsync(document, Answer(HttpStatusCode.Conflict, "{\"error\":\"x\"}"), "get", "/api/published-models"));
    }

    /// <summary>The answer's body validates against the schema the document declares for its status, and the
    /// rate-limit headers it carries are declared.</summary>
    private static async Task AssertMatchesAsync(JsonObject document, HttpResponseMessage response, string method, string template)
    {
        var status = ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var body = await response.Content.ReadAsStringAsync();
        var declared = document["paths"]?[template]?[method]?["responses"]?[status];
        Assert.True(declared is not null, $"{method.ToUpperInvariant()} {template} answered {status}, which the document does not declare: {body}");
        foreach (var header in RateLimitHeaders.Where(h => response.Headers.Contains(h)))
        {
            Assert.True(declared["headers"]?[header] is not null, $"{method} {template} {status}: header {header} is not declared");
        }
        var schema = declared["content"]?["application/json"]?["schema"];
        Assert.True(schema is not null, $"{method} {template} {status}: no JSON schema declared");
        var validator = Validator(document, schema);
        using var instance = JsonDocument.Parse(body);
        var result = validator.Evaluate(instance.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
        Assert.True(result.IsValid, $"{method.ToUpperInvariant()} {template} {status} does not match its schema:\n"
            + string.Join("\n", (result.Details ?? []).Where(d => d.Errors is { Count: > 0 })
                .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation} ({d.EvaluationPath}): {e.Value}")))
            + $"\nbody: {body}");
    }

    /// <summary>The declared schema as a JSON Schema 2020-12 document (OpenAPI 3.1 schemas are JSON Schema), with the
    /// document's components as its <c>$defs</c>. Objects with declared properties are closed
    /// (<c>additionalProperties: false</c>): a field the service sends and the document omits fails.</summary>
    private static JsonSchema Validator(JsonObject document, JsonNode schema)
    {
        var definitions = document["components"]?["schemas"]?.DeepClone() ?? new JsonObject();
        var root = new JsonObject
        {
            ["$schema"] = "https://json-schema.org/draft/2020-12/schema",
            ["$defs"] = definitions,
            ["allOf"] = new JsonArray(schema.DeepClone()),
        };
        Close(root);
        var text = root.ToJsonString().Replace("#/components/schemas/", "#/$defs/", StringComparison.Ordinal);
        return JsonSchema.FromText(text, new BuildOptions { SchemaRegistry = new SchemaRegistry() }, new Uri($"https://schemas.test/{Guid.NewGuid():N}"));
    }

    private static void Close(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                if (o["properties"] is JsonObject && !o.ContainsKey("additionalProperties"))
                {
                    o["additionalProperties"] = false;
                }
                foreach (var (_, child) in o.ToList())
                {
                    Close(child);
                }
                break;
            case JsonArray a:
                foreach (var child in a)
                {
                    Close(child);
                }
                break;
        }
    }
}
