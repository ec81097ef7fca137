using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Api.Tests;

/// <summary>Every error the host writes, its own or the framework's, has the contract's <c>{error, details}</c> shape.</summary>
[Collection(ApiCollection.Name)]
public sealed class ErrorWriterTests(ApiFixture api)
{
    [Fact]
    public async Task The_problem_details_service_writes_the_contract_shape()
    {
        // What the framework answers by itself (status-code pages, the exception handler's fallback) goes through
        // this service; anything plugged in after this test was written gets the contract's shape too.
        var service = api.Services.GetRequiredService<IProblemDetailsService>();
        var context = new DefaultHttpContext { RequestServices = api.Services };
        context.Response.Body = new MemoryStream();
        context.Response.StatusCode = StatusCodes.Status415UnsupportedMediaType;
        Assert.True(await service.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = new ProblemDetails { Status = StatusCodes.Status415UnsupportedMediaType, Detail = "only JSON" },
        }));
        context.Response.Body.Position = 0;
        var body = JsonNode.Parse(context.Response.Body)!.AsObject();
        Assert.StartsWith("application/json", context.Response.ContentType);
        Assert.Equal(["error", "details"], body.Select(p => p.Key));
        Assert.Equal("Request failed", body["error"]!.GetValue<string>());
        Assert.Equal("only JSON", body["details"]!.GetValue<string>());
    }

    [Fact]
    public async Task Unknown_routes_and_wrong_methods_get_the_contract_shape()
    {
        var admin = api.Admin();
        await (await admin.GetAsync("/api/no-such-thing")).AssertError(HttpStatusCode.NotFound, "Not found");
        await (await admin.DeleteAsync("/health")).AssertError(HttpStatusCode.MethodNotAllowed, "Method not allowed");
    }
}
