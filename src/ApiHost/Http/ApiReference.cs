using Inference.ApiHost.Auth;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;
using Scalar.AspNetCore;

namespace Inference.ApiHost.Http;

/// <summary>The service describes itself: the OpenAPI document (<c>Microsoft.AspNetCore.OpenApi</c>) at
/// <see cref="DocumentPath"/>, generated from the endpoints' own metadata (names, summaries, tags, typed results,
/// bodies, <see cref="ErrorResponses.ProducesErrors"/>), and the Scalar reference page at <see cref="PagePath"/>,
/// whose script and styles are served from the package itself (no CDN).</summary>
public static class ApiReference
{
    public const string DocumentPath = "/openapi/v1.json";
    public const string PagePath = "/docs";
    public const string BearerScheme = "bearer";

    /// <summary>What the reference page may load: its own script from this host, the document, nothing else. Scalar
    /// writes its configuration in an inline script and styles inline, hence those two allowances, for this page only.</summary>
    public const string PageContentSecurityPolicy =
        "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        + "font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    private static readonly string[] RateLimitHeaders = ["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "RateLimit", "RateLimit-Policy"];

    public static IServiceCollection AddApiReference(this IServiceCollection services) =>
        services.AddOpenApi("v1", o =>
        {
            o.AddDocumentTransformer((document, _, _) =>
            {
                document.Info = new OpenApiInfo
                {
                    Title = "Inference-in-a-Box management service",
                    Version = "v1",
                    Description = "Models, publications and API keys of a multi-tenant KServe box. Errors are `{error, details}`. "
                        + "Authenticated requests count against the caller's rate limit (X-RateLimit-* headers).",
                };
                document.Components ??= new OpenApiComponents();
                document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
                document.Components.SecuritySchemes[BearerScheme] = new OpenApiSecurityScheme
                {
                    Type = SecuritySchemeType.Http,
                    Scheme = "bearer",
                    BearerFormat = "JWT",
                    Description = "A token from POST /api/admin/login or the platform's identity system (`./box token TENANT`)",
                };
                return Task.CompletedTask;
            });
            o.AddOperationTransformer(DescribeOperation);
            o.AddSchemaTransformer((schema, context, _) =>
            {
                // Nulls are left out of answers (ApiJson: WhenWritingNull), so a property that may be null may be
                // absent: it is not required.
                if (context.JsonTypeInfo.Kind == System.Text.Json.Serialization.Metadata.JsonTypeInfoKind.Object
                    && schema.Required is { Count: > 0 } required)
                {
                    foreach (var property in context.JsonTypeInfo.Properties.Where(p => p.IsGetNullable || Nullable.GetUnderlyingType(p.PropertyType) is not null))
                    {
                        required.Remove(property.Name);
                    }
                }
                return Task.CompletedTask;
            });
        });

    public static IEndpointRouteBuilder MapApiReference(this IEndpointRouteBuilder app)
    {
        app.MapOpenApi(DocumentPath).AllowAnonymous().WithoutTenantScope("the API's own description").ExcludeFromDescription();
        app.MapScalarApiReference(PagePath, o => o
                .WithTitle("Inference-in-a-Box management API")
                .WithOpenApiRoutePattern(DocumentPath)
                // Fonts would come from Scalar's CDN; users may have no internet, so the page uses the system's.
                .DisableDefaultFonts())
            .AllowAnonymous()
            .AddEndpointFilter(async (invocation, next) =>
            {
                invocation.HttpContext.Response.Headers.ContentSecurityPolicy = PageContentSecurityPolicy;
                return await next(invocation);
            });
        return app;
    }

    /// <summary>What the endpoints' metadata cannot say by itself: who may call (bearer JWT, or no one's token for key
    /// validation), the tenant-scope query parameter, the statuses every authenticated route shares, and the
    /// rate-limit headers.</summary>
    private static async Task DescribeOperation(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancel)
    {
        var metadata = context.Description.ActionDescriptor.EndpointMetadata;
        var path = "/" + (context.Description.RelativePath ?? "");
        var anonymous = metadata.OfType<IAllowAnonymous>().Any() || !metadata.OfType<IAuthorizeData>().Any();
        operation.Responses ??= new OpenApiResponses();
        // One endpoint serving several methods (forwarded key validation) is one operation per method: names must
        // stay unique.
        if (metadata.OfType<Microsoft.AspNetCore.Routing.IHttpMethodMetadata>().LastOrDefault() is { HttpMethods.Count: > 1 }
            && operation.OperationId is { } id && context.Description.HttpMethod is { } method)
        {
            operation.OperationId = id + method[..1].ToUpperInvariant() + method[1..].ToLowerInvariant();
        }
        if (metadata.OfType<RequestBodyType>().FirstOrDefault() is { } body && operation.RequestBody is null)
        {
            operation.RequestBody = new OpenApiRequestBody
            {
                Required = !body.Optional,
                Content = new Dictionary<string, OpenApiMediaType>
                {
                    ["application/json"] = new OpenApiMediaType { Schema = await SchemaAsync(body.Type, context, cancel) },
                },
            };
        }
        if (metadata.OfType<TenantScoped>().FirstOrDefault() is { } scoped)
        {
            operation.Parameters ??= [];
            operation.Parameters.Add(new OpenApiParameter
            {
                Name = scoped.Parameter,
                In = ParameterLocation.Query,
                Required = false,
                Description = "The tenant namespace to act in: admins name any (or none, for all tenants where that applies); "
                    + "a tenant user only their own (another is 403)",
                Schema = new OpenApiSchema { Type = JsonSchemaType.String },
            });
        }
        if (path.StartsWith(Keys.KeyValidationApi.Path, StringComparison.Ordinal))
        {
            DescribeKeyValidation(operation);
        }
        if (anonymous)
        {
            // Key validation, login: no token. An empty requirement says so explicitly.
            operation.Security = [];
        }
        else
        {
            operation.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(BearerScheme, context.Document)] = [] }];
            AddError(operation, context, StatusCodes.Status401Unauthorized, "No token, or an invalid or expired one");
            if (metadata.OfType<IAuthorizeData>().Any(a => a.Policy == AuthExtensions.AdminPolicy))
            {
                AddError(operation, context, StatusCodes.Status403Forbidden, "Not an admin");
            }
        }
        var counted = !anonymous && (path.StartsWith("/api/", StringComparison.Ordinal) || path == Realtime.RealtimeApi.Path);
        if (counted)
        {
            AddError(operation, context, StatusCodes.Status429TooManyRequests, "Over the caller's rate limit (Retry-After says when to retry)");
        }
        AddError(operation, context, StatusCodes.Status503ServiceUnavailable, "The cluster is reshuffling or a dependency is down (Retry-After)");
        foreach (var (status, response) in operation.Responses)
        {
            if (response is not OpenApiResponse concrete)
            {
                continue;
            }
            concrete.Headers ??= new Dictionary<string, IOpenApiHeader>();
            if (counted || path.StartsWith(Keys.KeyValidationApi.Path, StringComparison.Ordinal))
            {
                foreach (var header in RateLimitHeaders)
                {
                    concrete.Headers[header] = Header(header.StartsWith("X-", StringComparison.Ordinal) ? JsonSchemaType.Integer : JsonSchemaType.String,
                        header switch
                        {
                            "X-RateLimit-Limit" => "Requests allowed in the window",
                            "X-RateLimit-Remaining" => "Requests left in the window",
                            "X-RateLimit-Reset" => "Seconds until the window resets",
                            "RateLimit" => "IETF draft: limit=N, remaining=N, reset=S",
                            _ => "IETF draft: the policies, LIMIT;w=SECONDS, ...",
                        });
                }
            }
            if (status is "429" or "503")
            {
                concrete.Headers["Retry-After"] = Header(JsonSchemaType.Integer, "Seconds to wait before retrying");
            }
        }
    }

    /// <summary>A request body's schema as a component of the document, shared by the routes that take it.</summary>
    private static async Task<IOpenApiSchema> SchemaAsync(Type type, OpenApiOperationTransformerContext context, CancellationToken cancel)
    {
        var schema = await context.GetOrCreateSchemaAsync(type, null, cancel);
        context.Document!.AddComponent(type.Name, schema);
        return new OpenApiSchemaReference(type.Name, context.Document);
    }

    /// <summary>The headers a validation reads and answers with (Authorization: Bearer pk_... is read too; OpenAPI
    /// does not let a parameter be named Authorization).</summary>
    private static void DescribeKeyValidation(OpenApiOperation operation)
    {
        operation.Description = "No token: the gateway calls it. The key comes from X-API-Key, `Authorization: Bearer pk_live_...` or the body's "
            + "`apiKey`. Every answer carries the key's (or, for failures, the source's) rate-limit headers.";
        operation.Parameters ??= [];
        foreach (var (name, description) in new[]
        {
            ("X-API-Key", "The API key"),
            ("X-Tokens", "Tokens this request costs (counted against tokensPerHour)"),
            ("X-Caller-Tenant", "The calling tenant, checked against the publication's allowedTenants"),
            ("X-AI-EG-Model", "The model header openai routes match on (forwarded form)"),
        })
        {
            operation.Parameters.Add(new OpenApiParameter
            {
                Name = name,
                In = ParameterLocation.Header,
                Description = description,
                Schema = new OpenApiSchema { Type = name == "X-Tokens" ? JsonSchemaType.Integer : JsonSchemaType.String },
            });
        }
        if (operation.Responses?.TryGetValue("200", out var ok) is true && ok is OpenApiResponse admitted)
        {
            admitted.Headers ??= new Dictionary<string, IOpenApiHeader>();
            admitted.Headers["X-Tenant"] = Header(JsonSchemaType.String, "The key's tenant");
            admitted.Headers["X-Model"] = Header(JsonSchemaType.String, "The key's model");
        }
    }

    private static void AddError(OpenApiOperation operation, OpenApiOperationTransformerContext context, int status, string description)
    {
        var key = status.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (operation.Responses!.ContainsKey(key))
        {
            return;
        }
        operation.Responses[key] = new OpenApiResponse
        {
            Description = description,
            Content = new Dictionary<string, OpenApiMediaType>
            {
                ["application/json"] = new OpenApiMediaType { Schema = new OpenApiSchemaReference(nameof(ErrorBody), context.Document) },
            },
        };
    }

    private static OpenApiHeader Header(JsonSchemaType type, string description) =>
        new() { Description = description, Schema = new OpenApiSchema { Type = type } };
}
