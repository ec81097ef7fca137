using Inference.ApiHost.Http;
using Inference.Grains.Abstractions;
using Inference.Grains.Abstractions.Tenants;
using Inference.Shared.Models;

namespace Inference.ApiHost.Auth;

/// <summary>Which namespace a request may act in: a tenant user only ever their own; an admin any, named in the
/// body or the <c>namespace</c> query parameter.</summary>
public static class TenantScope
{
    /// <summary>The namespace to act in; null only for an admin who named none (meaning: all tenants).</summary>
    public static (string? Namespace, IResult? Error) Resolve(Caller caller, string? requested)
    {
        if (requested is not null && !ModelRules.IsNamespace(requested))
        {
            return (null, ApiResults.Invalid("Field 'namespace' must be a Kubernetes namespace name"));
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
    /// none, the one tenant that holds a model of that name (read from the name index; 400 asking for the namespace when several do). A name
    /// no model can have is a 400 before any lookup.</summary>
    public static async Task<(string? Namespace, IResult? Error)> ResolveModelAsync(
        Caller caller, string? requested, string name, IGrainFactory grains)
    {
        if (ModelRules.CheckName(name) is { } nameError)
        {
            return (null, ApiResults.Error(nameError));
        }
        var (ns, error) = Resolve(caller, requested);
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
