using Inference.ApiHost.Auth;
using Inference.ApiHost.Http;
using Inference.Shared.Models;

namespace Inference.ApiHost.Audit;

/// <summary>Audits every mutating call (POST, PUT, PATCH, DELETE) of the endpoints it is applied to. One line per
/// route group: <c>app.MapGroup("/api/models").RequireAuthorization().WithAudit("model")</c> records
/// <c>model.create</c> / <c>model.update</c> / <c>model.delete</c>; a route whose verb does not say what it does
/// names its action with <c>.WithAuditAction("key.rotate")</c>, and a POST that changes nothing (predict) opts out
/// with <c>.WithoutAudit()</c>.</summary>
public static class AuditEndpoints
{
    private const string TargetItem = "audit.target";

    private sealed record ActionName(string? Action);

    private sealed record Target(string? Tenant, string? Name);

    public static TBuilder WithAudit<TBuilder>(this TBuilder builder, string resource) where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(async (invocation, next) =>
        {
            var context = invocation.HttpContext;
            var method = context.Request.Method;
            var named = context.GetEndpoint()?.Metadata.GetMetadata<ActionName>();
            if (HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method) || named is { Action: null })
            {
                return await next(invocation);
            }
            var action = named?.Action ?? $"{resource}.{Verb(method)}";
            object? result;
            try
            {
                result = await next(invocation);
            }
            catch (Exception e)
            {
                var status = UnavailableHandler.IsClusterUnavailable(e) ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status500InternalServerError;
                await Record(context, action, status);
                throw;
            }
            await Record(context, action, StatusOf(result) ?? context.Response.StatusCode);
            return result;
        });

    public static TBuilder WithAuditAction<TBuilder>(this TBuilder builder, string action) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ActionName(action));

    public static TBuilder WithoutAudit<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ActionName(null));

    /// <summary>Tells the audit what the call acted on, once the handler has resolved it (an admin's namespace may
    /// come from the body or a lookup the filter cannot see).</summary>
    public static void SetAuditTarget(this HttpContext context, string? tenant, string? name) => context.Items[TargetItem] = new Target(tenant, name);

    private static Task Record(HttpContext context, string action, int status)
    {
        if (status is StatusCodes.Status401Unauthorized or StatusCodes.Status403Forbidden)
        {
            // Refused before anything happened: the trail records what callers did, not what they were refused.
            // A record here would land in the partition of a tenant the caller named but may not act in.
            return Task.CompletedTask;
        }
        var caller = Caller.From(context.User);
        var target = context.Items[TargetItem] as Target;
        var tenant = caller.IsAdmin
            ? target?.Tenant ?? context.Request.Query["namespace"].FirstOrDefault()
            // A tenant user acts in their own tenant only; whatever they named, their records stay in it.
            : caller.Tenant;
        tenant = ModelRules.IsNamespace(tenant) ? tenant : null;
        var name = target?.Name ?? context.Request.RouteValues["name"] as string;
        var targetText = string.IsNullOrEmpty(name) ? null : tenant is null ? name : $"{tenant}/{name}";
        var log = context.RequestServices.GetRequiredService<IAuditLog>();
        return log.WriteAsync(AuditRecord.For(context, action, tenant, targetText, status));
    }

    /// <summary>The status a handler's result will answer with; a typed union (<c>Results&lt;Ok&lt;T&gt;, ErrorResult&gt;</c>)
    /// holds the one it chose.</summary>
    private static int? StatusOf(object? result) => result switch
    {
        IStatusCodeHttpResult { StatusCode: { } code } => code,
        INestedHttpResult nested => StatusOf(nested.Result),
        _ => null,
    };

    private static string Verb(string method) => method.ToUpperInvariant() switch
    {
        "POST" => "create",
        "PUT" or "PATCH" => "update",
        "DELETE" => "delete",
        var other => other.ToLowerInvariant(),
    };
}
