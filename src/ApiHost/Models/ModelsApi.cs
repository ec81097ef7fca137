using Inference.ApiHost.Audit;
using Inference.ApiHost.Auth;
using Inference.ApiHost.Http;
using Inference.Grains.Abstractions;
using Inference.Grains.Abstractions.Models;
using Inference.Grains.Abstractions.Tenants;
using Microsoft.AspNetCore.Mvc;
using Inference.Shared.Models;

namespace Inference.ApiHost.Models;

public static class ModelsApi
{
    public static IEndpointRouteBuilder MapModelsApi(this IEndpointRouteBuilder app)
    {
        var models = app.MapGroup("/api/models").RequireAuthorization().WithAudit("model");
        models.MapGet("", List);
        models.MapPost("", Create);
        models.MapGet("/{name}", Get);
        models.MapPut("/{name}", Update);
        models.MapDelete("/{name}", Delete);
        return app;
    }

    private static async Task<IResult> List(HttpContext context, IGrainFactory grains, [FromQuery(Name = "namespace")] string? ns)
    {
        var (scope, error) = TenantScope.Resolve(Caller.From(context.User), ns);
        if (error is not null)
        {
            return error;
        }
        var listed = scope is not null
            ? await grains.GetGrain<ITenantGrain>(scope).ListModelsAsync()
            : await grains.GetGrain<ITenantListingGrain>(0).ListModelsAsync();
        var views = listed.Select(ModelResponse.From).ToList();
        return Results.Json(new ModelListResponse(views, views.Count), ApiJson.Options);
    }

    private static async Task<IResult> Create(HttpContext context, IGrainFactory grains)
    {
        var (request, error) = await JsonBody.ReadAsync<CreateModelRequest>(context.Request);
        if (error is not null)
        {
            return error;
        }
        var caller = Caller.From(context.User);
        var (ns, scopeError) = TenantScope.Resolve(caller, request!.Namespace);
        if (scopeError is not null)
        {
            return scopeError;
        }
        if (ns is null)
        {
            return ApiResults.Invalid("Field 'namespace' is required for admin requests");
        }
        context.SetAuditTarget(ns, request.Name);
        if (ModelRules.CheckName(request.Name) is { } nameError)
        {
            return ApiResults.Error(nameError);
        }
        var result = await grains.GetGrain<IModelGrain>(GrainKeys.Scoped(ns, request.Name!)).CreateAsync(request.ToSpec());
        return ApiResults.From(result, view => Results.Json(
            new ModelChangeResponse("Model created successfully", view.Name, view.Namespace, ModelConfig.From(view.Predictor), ModelResponse.From(view)),
            ApiJson.Options, statusCode: StatusCodes.Status201Created));
    }

    private static async Task<IResult> Get(HttpContext context, IGrainFactory grains, string name, [FromQuery(Name = "namespace")] string? ns)
    {
        var (model, error) = await Resolve(context, grains, name, ns);
        return error ?? ApiResults.From(await model!.GetAsync(), view => Results.Json(ModelResponse.From(view), ApiJson.Options));
    }

    private static async Task<IResult> Update(HttpContext context, IGrainFactory grains, string name, [FromQuery(Name = "namespace")] string? ns)
    {
        var (request, bodyError) = await JsonBody.ReadAsync<UpdateModelRequest>(context.Request);
        if (bodyError is not null)
        {
            return bodyError;
        }
        if (request!.IsEmpty)
        {
            return ApiResults.Invalid("Nothing to update: give at least one of framework, storageUri, minReplicas, maxReplicas, scaleTarget, scaleMetric");
        }
        var (model, error) = await Resolve(context, grains, name, ns ?? request.Namespace);
        return error ?? ApiResults.From(await model!.UpdateAsync(request.ToPatch()), view => Results.Json(
            new ModelChangeResponse("Model updated successfully", view.Name, view.Namespace, ModelConfig.From(view.Predictor), ModelResponse.From(view)),
            ApiJson.Options));
    }

    private static async Task<IResult> Delete(HttpContext context, IGrainFactory grains, string name, [FromQuery(Name = "namespace")] string? ns)
    {
        var (model, error) = await Resolve(context, grains, name, ns);
        return error ?? ApiResults.From(await model!.DeleteAsync(), _ => Results.Json(new MessageResponse("Model deleted successfully"), ApiJson.Options));
    }

    private static async Task<(IModelGrain? Model, IResult? Error)> Resolve(HttpContext context, IGrainFactory grains, string name, string? ns)
    {
        var (resolved, error) = await TenantScope.ResolveModelAsync(Caller.From(context.User), ns, name, grains);
        context.SetAuditTarget(resolved ?? ns, name);
        return error is not null ? (null, error) : (grains.GetGrain<IModelGrain>(GrainKeys.Scoped(resolved!, name)), null);
    }
}
