using System.Reflection;
using Inference.ApiHost.Http;
using Inference.Grains.Abstractions.Tenants;
using Inference.Shared.Models;

namespace Inference.ApiHost.Auth;

/// <summary>Which namespace a request acts in, decided by <see cref="TenantScopeFilter"/> before the handler runs: a
/// tenant user only ever their own; an admin any, named in the query or the body (for a named model, found from the
/// name index when not given). Handlers take it as a parameter.</summary>
public sealed class TenantScope
{
    /// <summary>What binding puts in the parameter; the filter replaces it. A handler that sees it has no filter and
    /// refuses to act in an undecided scope.</summary>
    private static readonly TenantScope Unresolved = new(null!, null);

    private readonly Caller? _caller;
    private readonly string? _namespace;

    internal TenantScope(Caller caller, string? ns)
    {
        _caller = caller;
        _namespace = ns;
    }

    public Caller Caller => _caller ?? throw NotResolved();

    /// <summary>The namespace to act in; null only for an admin who named none (meaning: all tenants).</summary>
    public string? Namespace => _caller is null ? throw NotResolved() : _namespace;

    /// <summary>The namespace of a route that always acts in one (a named model, or a create the filter made name one).</summary>
    public string Required => Namespace ?? throw new InvalidOperationException("This route's scope names no namespace");

    public static ValueTask<TenantScope?> BindAsync(HttpContext context) => ValueTask.FromResult<TenantScope?>(Unresolved);

    private static InvalidOperationException NotResolved() =>
        new("The tenant scope was not decided: the route group lacks WithTenantScope()");

    /// <summary>The namespace a caller may act in, given the one they asked for.</summary>
    public static (string? Namespace, ErrorResult? Error) Resolve(Caller caller, string? requested, string invalid)
    {
        if (requested is not null && !ModelRules.IsNamespace(requested))
        {
            return (null, ApiResults.Invalid(invalid));
        }
        if (caller.IsAdmin)
        {
            return (requested, null);
        }
        if (requested is not null && requested != caller.Tenant)
        {
            return (null, ApiResults.Forbidden(requested));
        }
        return (caller.Tenant, null);
    }

    /// <summary>The namespace of a named model: the caller's own, the admin's choice, or for an admin who named
    /// none, the one tenant that holds a model of that name (read from the name index; 400 asking for the namespace
    /// when several do). A name no model can have is a 400 before any lookup.</summary>
    public static async Task<(string? Namespace, ErrorResult? Error)> ResolveModelAsync(
        Caller caller, string? requested, string name, IGrainFactory grains, string invalid)
    {
        if (ModelRules.CheckName(name) is { } nameError)
        {
            return (null, ApiResults.Error(nameError));
        }
        var (ns, error) = Resolve(caller, requested, invalid);
        if (error is not null || ns is not null)
        {
            return (ns, error);
        }
        var holders = await grains.GetGrain<IModelNameIndexGrain>(name).GetTenantsAsync();
        return holders.Count switch
        {
            0 => (null, ApiResults.Error(StatusCodes.Status404NotFound, "Model not found")),
            1 => (holders[0], null),
            _ => (null, ApiResults.Invalid($"Model '{name}' exists in several namespaces ({string.Join(", ", holders)}); pass 'namespace'")),
        };
    }
}
