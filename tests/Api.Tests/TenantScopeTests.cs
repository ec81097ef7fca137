using System.Net;
using Inference.ApiHost.Auth;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Api.Tests;

/// <summary>Tenant scope is decided by one endpoint filter on the route groups (<see cref="TenantScopeFilter"/>), not
/// by each handler: every /api endpoint carries it or a named exemption, and on every scoped route a tenant user
/// naming another tenant is refused before the handler runs.</summary>
[Collection(ApiCollection.Name)]
public sealed class TenantScopeTests(ApiFixture api)
{
    /// <summary>The routes that act in no tenant's scope, and nothing else.</summary>
    private static readonly string[] Exempt =
    [
        "POST /api/validate-api-key",
        "GET,HEAD,POST,PUT,DELETE,PATCH,OPTIONS /api/validate-api-key/{namespace}/{model}/{**forwardedPath}",
        "POST /api/admin/login",
        "GET /api/admin/system",
        "GET /api/admin/tenants",
        "POST /api/admin/kubectl",
    ];

    private IReadOnlyList<RouteEndpoint> ApiEndpoints() =>
        api.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText is { } p && (p.StartsWith("/api") || p.StartsWith("/ws")))
            .ToList();

    private static string Describe(RouteEndpoint e) =>
        $"{string.Join(",", e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? [])} {e.RoutePattern.RawText}";

    [Fact]
    public void Every_api_endpoint_is_scoped_by_the_filter_or_exempt_by_name()
    {
        var endpoints = ApiEndpoints();
        Assert.True(endpoints.Count > 20, $"only {endpoints.Count} endpoints found");
        foreach (var endpoint in endpoints)
        {
            var scoped = endpoint.Metadata.GetMetadata<TenantScoped>();
            var exemption = endpoint.Metadata.GetMetadata<TenantScopeExemption>();
            Assert.True(scoped is null != (exemption is null), $"{Describe(endpoint)} must carry WithTenantScope() or WithoutTenantScope(reason), exactly one");
            if (exemption is not null)
            {
                Assert.False(string.IsNullOrWhiteSpace(exemption.Reason), Describe(endpoint));
            }
            // A handler that takes the scope gets it only from the filter.
            var takesScope = endpoint.Metadata.GetMetadata<System.Reflection.MethodInfo>()?.GetParameters().Any(p => p.ParameterType == typeof(TenantScope)) == true;
            Assert.True(!takesScope || scoped is not null, $"{Describe(endpoint)} takes a TenantScope but has no filter to decide it");
        }
        Assert.Equal(Exempt.Order(), endpoints.Where(e => e.Metadata.GetMetadata<TenantScopeExemption>() is not null).Select(Describe).Order());
    }

    /// <summary>Every scoped route, called by a tenant user who names another tenant, answers 403 from the filter (a
    /// route without it would reach a handler that refuses to act in an undecided scope: a 500).</summary>
    [Fact]
    public async Task A_tenant_naming_another_tenant_is_refused_on_every_scoped_route()
    {
        var tenant = api.Tenant("tenant-a");
        // One body every scoped route reads as well-formed, so that only the scope can refuse it.
        const string body = "{\"config\": {}, \"inputData\": {}, \"maxReplicas\": 2}";
        var routes = ApiEndpoints().Where(e => e.Metadata.GetMetadata<TenantScoped>() is not null).ToList();
        Assert.NotEmpty(routes);
        foreach (var endpoint in routes)
        {
            var parameter = endpoint.Metadata.GetMetadata<TenantScoped>()!.Parameter;
            var path = endpoint.RoutePattern.RawText!.Replace("{name}", "some-model");
            foreach (var method in endpoint.Metadata.GetMetadata<IHttpMethodMetadata>()!.HttpMethods)
            {
                var request = new HttpRequestMessage(new HttpMethod(method), $"{path}?{parameter}=tenant-b");
                if (method is "POST" or "PUT")
                {
                    request.Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
                }
                var response = await tenant.SendAsync(request);
                // Admin-only routes are refused by their policy before the scope is decided.
                await response.AssertError(HttpStatusCode.Forbidden, path.StartsWith("/api/admin/") ? "Admin access required" : "Insufficient permissions for tenant: tenant-b");
            }
        }
    }

    [Fact]
    public async Task A_tenant_naming_another_tenant_in_the_body_is_refused()
    {
        var tenant = api.Tenant("tenant-a");
        await (await tenant.PostJson("/api/models", new { name = "scoped", framework = "sklearn", storageUri = "gs://b/m", @namespace = "tenant-b" }))
            .AssertError(HttpStatusCode.Forbidden, "tenant-b");
        await (await tenant.PostJson("/api/models/scoped/publish", new { config = new { tenantId = "tenant-b" } }))
            .AssertError(HttpStatusCode.Forbidden, "tenant-b");
        await (await tenant.PostJson("/api/models/scoped/predict", new { inputData = new { }, @namespace = "tenant-b" }))
            .AssertError(HttpStatusCode.Forbidden, "tenant-b");
    }
}
