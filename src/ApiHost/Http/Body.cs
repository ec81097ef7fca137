using System.Reflection;
using Microsoft.AspNetCore.Http.Metadata;

namespace Inference.ApiHost.Http;

/// <summary>A request body whose fields may name the namespace the request acts in.</summary>
public interface INamespacedRequest
{
    /// <summary>The namespace the body names, if any.</summary>
    string? RequestedNamespace { get; }

    /// <summary>A contradiction inside the request about its namespace (publish's <c>config.tenantId</c> against
    /// the namespace asked for), answered before the scope is decided.</summary>
    ErrorResult? CheckNamespace(string? requested) => null;
}

/// <summary>A request body with checks of its own beyond being well-formed, answered as the body's 400.</summary>
public interface IValidatedRequest
{
    /// <summary>What is wrong with the body, or null.</summary>
    string? Problem();
}

/// <summary>A request body bound as a handler parameter: read before any filter runs, its failure kept (not thrown)
/// so the tenant-scope filter answers it first, before the scope is decided (<see cref="Auth.TenantScopeFilter"/>).</summary>
public interface IRequestBody
{
    ErrorResult? Error { get; }

    string? RequestedNamespace { get; }

    ErrorResult? CheckNamespace(string? requested);
}

/// <summary>The type of a route's JSON request body, for the OpenAPI document. Not <c>IAcceptsMetadata</c>: routing
/// would then answer a wrong content type with its own 415, before <see cref="JsonBody"/> answers the contract's 400.</summary>
public sealed record RequestBodyType(Type Type, bool Optional = false);

/// <summary>Marks a body parameter that may be left out (an empty request body): the handler gets
/// <see cref="Body{T}.ValueOrNull"/> null.</summary>
[AttributeUsage(AttributeTargets.Parameter)]
public sealed class OptionalBodyAttribute : Attribute;

/// <summary>The JSON body of a request, read by <see cref="JsonBody"/>'s rules (size limit, content type, every way
/// it can be malformed a 400 naming the field) when the endpoint's parameters are bound; it tells OpenAPI its
/// schema.</summary>
public sealed class Body<T> : IRequestBody, IEndpointParameterMetadataProvider where T : class
{
    private readonly T? _value;

    private Body(T? value, ErrorResult? error)
    {
        _value = value;
        Error = error;
    }

    /// <summary>The body; reading it after a failed read is a programming error (the filter answers those).</summary>
    public T Value => _value ?? throw new InvalidOperationException($"The {typeof(T).Name} body was not read; is the route missing WithTenantScope()?");

    /// <summary>The body, or null when an optional body was left out.</summary>
    public T? ValueOrNull => Error is null ? _value : throw new InvalidOperationException($"The {typeof(T).Name} body failed to read");

    public ErrorResult? Error { get; }

    public string? RequestedNamespace => (_value as INamespacedRequest)?.RequestedNamespace;

    public ErrorResult? CheckNamespace(string? requested) => (_value as INamespacedRequest)?.CheckNamespace(requested);

    public static async ValueTask<Body<T>?> BindAsync(HttpContext context, ParameterInfo parameter)
    {
        var request = context.Request;
        if (parameter.GetCustomAttribute<OptionalBodyAttribute>() is not null
            && request.ContentLength is null or 0 && request.Headers.TransferEncoding.Count == 0)
        {
            return new Body<T>(null, null);
        }
        var (value, error) = await JsonBody.ReadAsync<T>(request);
        if (error is null && value is IValidatedRequest validated && validated.Problem() is { } problem)
        {
            error = ApiResults.Invalid(problem);
        }
        return new Body<T>(value, error);
    }

    public static void PopulateMetadata(ParameterInfo parameter, EndpointBuilder builder) =>
        builder.Metadata.Add(new RequestBodyType(typeof(T), parameter.GetCustomAttribute<OptionalBodyAttribute>() is not null));
}
