using Inference.ApiHost.Admin.Kubectl;
using Inference.ApiHost.Audit;
using Inference.ApiHost.Auth;
using Inference.ApiHost.Http;
using Inference.Grains.Abstractions.Tenants;
using k8s;
using k8s.Models;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Inference.Shared.Kubernetes;

namespace Inference.ApiHost.Admin;

public static class AdminApi
{
    public static IEndpointRouteBuilder MapAdminApi(this IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/api/admin").RequireAuthorization(AuthExtensions.AdminPolicy)
            .WithoutTenantScope("admin only: views of the whole cluster").WithTags("Admin");
        admin.MapGet("/system", System).WithName("GetSystem")
            .WithSummary("Nodes, namespaces and deployments from the cluster, and the Orleans silos with activation counts")
            .ProducesErrors(403, 502, 503);
        admin.MapGet("/tenants", Tenants).WithName("ListTenants")
            .WithSummary("Tenant namespaces (labelled, or holding models) with model and publication counts")
            .ProducesErrors(403, 502, 503);
        admin.MapPost("/kubectl", Kubectl).WithName("RunKubectl")
            .WithSummary("Run a read-only kubectl command (get, describe, logs) through the Kubernetes client")
            .WithMetadata(new RequestBodyType(typeof(KubectlRequest)))
            .ProducesErrors(400, 403, 503);
        return app;
    }

    public static IServiceCollection AddAdmin(this IServiceCollection services)
    {
        services.AddSettings<KubectlOptions>(KubectlOptions.Section, o => o.Problem());
        services.AddSingleton<KubectlExecutor>();
        return services;
    }

    private static async Task<Results<Ok<SystemResponse>, ErrorResult>> System(IKubernetes kubernetes, IClusterClient cluster, IOptions<KubernetesOptions> options)
    {
        var timeout = options.Value.RequestTimeout;
        const string failure = "Failed to read the cluster";
        var nodes = KubernetesErrors.Call(ct => kubernetes.CoreV1.ListNodeAsync(cancellationToken: ct), failure, timeout, forAdmins: true);
        var namespaces = KubernetesErrors.Call(ct => kubernetes.CoreV1.ListNamespaceAsync(cancellationToken: ct), failure, timeout, forAdmins: true);
        var deployments = KubernetesErrors.Call(ct => kubernetes.AppsV1.ListDeploymentForAllNamespacesAsync(cancellationToken: ct), failure, timeout, forAdmins: true);
        var management = cluster.GetGrain<IManagementGrain>(0);
        var hosts = management.GetDetailedHosts(onlyActive: true);
        var statistics = management.GetSimpleGrainStatistics();
        try
        {
            await Task.WhenAll(nodes, namespaces, deployments);
        }
        catch (KubernetesCallException e)
        {
            return ApiResults.Error(e.Error);
        }
        var activations = (await statistics)
            .GroupBy(s => s.GrainType)
            .Select(g => new GrainActivations(g.Key, g.Sum(s => s.ActivationCount)))
            .OrderByDescending(g => g.Activations).ThenBy(g => g.GrainType, StringComparer.Ordinal)
            .ToList();
        var silos = (await hosts)
            .Select(h => new SiloInfo(h.SiloAddress.ToParsableString(), h.SiloName, h.HostName, h.Status.ToString(), h.StartTime))
            .OrderBy(s => s.Address, StringComparer.Ordinal)
            .ToList();
        return TypedResults.Ok(new SystemResponse(
            nodes.Result.Items.Select(Node).ToList(),
            namespaces.Result.Items.Select(Namespace).ToList(),
            deployments.Result.Items.Select(d => new DeploymentInfo(d.Metadata.Name, d.Metadata.NamespaceProperty,
                d.Status?.ReadyReplicas ?? 0, d.Spec?.Replicas ?? d.Status?.Replicas ?? 0, d.Status?.AvailableReplicas ?? 0)).ToList(),
            new OrleansInfo(silos, activations, activations.Sum(a => a.Activations))));
    }

    private static async Task<Results<Ok<TenantsResponse>, ErrorResult>> Tenants(IKubernetes kubernetes, IGrainFactory grains, IOptions<KubernetesOptions> options)
    {
        var o = options.Value;
        V1NamespaceList labelled, all;
        try
        {
            // Labelled namespaces are the tenants; other namespaces matter only when a tenant grain holds models there.
            labelled = await KubernetesErrors.Call(ct => kubernetes.CoreV1.ListNamespaceAsync(labelSelector: $"{o.TenantLabel}=true", cancellationToken: ct),
                "Failed to list tenants", o.RequestTimeout, forAdmins: true);
            all = await KubernetesErrors.Call(ct => kubernetes.CoreV1.ListNamespaceAsync(cancellationToken: ct), "Failed to list tenants", o.RequestTimeout, forAdmins: true);
        }
        catch (KubernetesCallException e)
        {
            return ApiResults.Error(e.Error);
        }
        var known = await grains.GetGrain<ITenantDirectoryGrain>(0).ListAsync();
        var labelledNames = labelled.Items.Select(n => n.Metadata.Name).ToHashSet(StringComparer.Ordinal);
        var byName = all.Items.ToDictionary(n => n.Metadata.Name, StringComparer.Ordinal);
        var names = labelledNames.Union(known).Order(StringComparer.Ordinal).ToList();
        var counts = await grains.GetGrain<ITenantListingGrain>(0).CountAsync(names);
        var tenants = names.Select((name, i) =>
        {
            var ns = byName.GetValueOrDefault(name);
            return new TenantInfo(name, ns?.Status?.Phase ?? (ns is null ? "Missing" : "Active"), ns?.Metadata.CreationTimestamp is { } created
                ? new DateTimeOffset(DateTime.SpecifyKind(created, DateTimeKind.Utc)) : null,
                counts[i].Models, counts[i].Publications, labelledNames.Contains(name));
        }).ToList();
        return TypedResults.Ok(new TenantsResponse(tenants, tenants.Count));
    }

    private static async Task<Results<Ok<KubectlResponse>, ErrorResult>> Kubectl(HttpContext context, KubectlExecutor executor, IAuditLog audit)
    {
        var (request, error) = await JsonBody.ReadAsync<KubectlRequest>(context.Request, limit: 8 * 1024);
        if (error is not null)
        {
            return error;
        }
        if (string.IsNullOrWhiteSpace(request!.Command))
        {
            return await Audited(ApiResults.Invalid($"Field 'command' is required. {KubectlParser.Allowed}"), StatusCodes.Status400BadRequest);
        }
        var command = request.Command.Trim();
        try
        {
            var parsed = KubectlParser.Parse(command);
            var result = await executor.ExecuteAsync(parsed);
            return await Audited(TypedResults.Ok(new KubectlResponse(result, command)), StatusCodes.Status200OK);
        }
        catch (KubectlRejectedException e)
        {
            return await Audited(ApiResults.Error(StatusCodes.Status400BadRequest, "Command not allowed", e.Message), StatusCodes.Status400BadRequest);
        }
        catch (KubernetesCallException e)
        {
            return await Audited(ApiResults.Error(e.Error), ApiResults.StatusOf(e.Error.Kind));
        }

        // Every command is recorded as given (redacted of anything secret-looking), refused ones included.
        async Task<Results<Ok<KubectlResponse>, ErrorResult>> Audited(Results<Ok<KubectlResponse>, ErrorResult> result, int status)
        {
            await audit.WriteAsync(AuditRecord.For(context, "kubectl", null, request?.Command ?? "", status));
            return result;
        }
    }

    private static NodeInfo Node(V1Node n)
    {
        var ready = n.Status?.Conditions?.FirstOrDefault(c => c.Type == "Ready");
        return new NodeInfo(n.Metadata.Name, ready?.Status == "True" ? "Ready" : "NotReady", n.Status?.NodeInfo?.KubeletVersion ?? "",
            Quantities(n.Status?.Capacity), Quantities(n.Status?.Allocatable));
    }

    private static IReadOnlyDictionary<string, string> Quantities(IDictionary<string, ResourceQuantity>? q) =>
        q?.ToDictionary(p => p.Key, p => p.Value.ToString()) ?? new Dictionary<string, string>();

    private static NamespaceInfo Namespace(V1Namespace n) => new(n.Metadata.Name, n.Status?.Phase ?? "Active",
        n.Metadata.CreationTimestamp is { } created ? new DateTimeOffset(DateTime.SpecifyKind(created, DateTimeKind.Utc)) : null);
}
