using Inference.ApiHost.Audit;
using Inference.ApiHost.Http;

namespace Inference.ApiHost.Auth;

/// <summary>Marks an endpoint whose tenant scope <see cref="TenantScopeFilter"/> decides.</summary>
/// <param name="Parameter">The query parameter that names the namespace.</param>
public sealed record TenantScoped(string Parameter, bool NamespaceRequired);

/// <summary>Marks an endpoint that acts in no tenant's scope, with the reason (key validation, login, the
/// cluster-wide admin views); every /api endpoint carries either this or <see cref="TenantScoped"/>.</summary>
public sealed record TenantScopeExemption(string Reason);

/// <summary>Decides the tenant scope of every request to a route group before its handler runs, so no handler can
/// forget it: a tenant user acts only in their own tenant (naming another is a 403), an admin in the one they name in
/// the query or the body. On a route with a <c>{name}</c> the scope is that model's namespace (an admin who names
/// none gets the one tenant that holds the name). A body that failed to read is answered first: the request's own
/// 400 comes before its scope. The handler receives the decision as its <see cref="TenantScope"/> parameter.</summary>
public static class TenantScopeFilter
{
    private const string NamespaceInvalid = "Field 'namespace' must be a Kubernetes namespace name";

    /// <param name="parameter">The query parameter naming the namespace (the audit trail calls it <c>tenant</c>).</param>
    /// <param name="namespaceRequired">An admin must name one (a create).</param>
    public static TBuilder WithTenantScope<TBuilder>(this TBuilder builder, string parameter = "namespace", bool namespaceRequired = false)
        where TBuilder : IEndpointConventionBuilder
    {
        builder.WithMetadata(new TenantScoped(parameter, namespaceRequired));
        return builder.AddEndpointFilterFactory((factory, next) =>
        {
            var parameters = factory.MethodInfo.GetParameters();
            var scopeAt = Array.FindIndex(parameters, p => p.ParameterType == typeof(TenantScope));
            var bodyAt = Array.FindIndex(parameters, p => typeof(IRequestBody).IsAssignableFrom(p.ParameterType));
            var invalid = parameter == "namespace" ? NamespaceInvalid : $"Query parameter '{parameter}' must be a Kubernetes namespace name";
            return invocation => Decide(invocation, next, parameter, invalid, namespaceRequired, scopeAt, bodyAt);
        });
    }

    /// <summary>Marks an endpoint that acts in no tenant's scope, saying why.</summary>
    public static TBuilder WithoutTenantScope<TBuilder>(this TBuilder builder, string reason) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new TenantScopeExemption(reason));

    private static async ValueTask<object?> Decide(EndpointFilterInvocationContext invocation, EndpointFilterDelegate next,
        string parameter, string invalid, bool namespaceRequired, int scopeAt, int bodyAt)
    {
        var context = invocation.HttpContext;
        var body = bodyAt >= 0 ? invocation.Arguments[bodyAt] as IRequestBody : null;
        if (body?.Error is { } bodyError)
        {
            return bodyError;
        }
        var requested = (string?)context.Request.Query[parameter] ?? body?.RequestedNamespace;
        if (body?.CheckNamespace(requested) is { } conflict)
        {
            return conflict;
        }
        var caller = Caller.From(context.User);
        string? ns;
        if (context.Request.RouteValues["name"] is string name)
        {
            var grains = context.RequestServices.GetRequiredService<IGrainFactory>();
            (ns, var error) = await TenantScope.ResolveModelAsync(caller, requested, name, grains, invalid);
            context.SetAuditTarget(ns ?? requested, name);
            if (error is not null)
            {
                return error;
            }
        }
        else
        {
            (ns, var error) = TenantScope.Resolve(caller, requested, invalid);
            if (error is not null)
            {
                return error;
            }
            if (namespaceRequired && ns is null)
            {
                return ApiResults.Invalid($"Field '{parameter}' is required for admin requests");
            }
        }
        if (scopeAt >= 0)
        {
            invocation.Arguments[scopeAt] = new TenantScope(caller, ns);
        }
        return await next(invocation);
    }
}
