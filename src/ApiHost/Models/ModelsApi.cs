using Inference.ApiHost.Audit;
using Inference.ApiHost.Auth;
using Inference.ApiHost.Http;
using Inference.Grains.Abstractions;
using Inference.Grains.Abstractions.Models;
using System.ComponentModel;
using Microsoft.AspNetCore.Mvc;
using Inference.Shared.Models;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Inference.ApiHost.Models;

public static class ModelsApi
{
    public static IEndpointRouteBuilder MapModelsApi(this IEndpointRouteBuilder app)
    {
        var models = app.MapGroup("/api/models").RequireAuthorization().WithAudit("model").WithTags("Models");
        models.MapGet("", List).WithTenantScope()
            .WithName("ListModels").WithSummary("List the models the caller may see (an admin: every tenant's, or one namespace's)")
            .ProducesErrors(400, 403);
        models.MapPost("", Create).WithTenantScope(namespaceRequired: true)
            .WithName("CreateModel").WithSummary("Create a model (a KServe InferenceService) in the caller's namespace")
            .ProducesErrors(400, 403, 409, 502, 503);
        var model = models.MapGroup("/{name}").WithTenantScope();
        model.MapGet("", Get).WithName("GetModel").WithSummary("Get a model with its status").ProducesErrors(400, 403, 404);
        model.MapPut("", Update).WithName("UpdateModel").WithSummary("Change a model's predictor settings")
            .ProducesErrors(400, 403, 404, 409, 502, 503);
        model.MapDelete("", Delete).WithName("DeleteModel").WithSummary("Delete a model (and unpublish it)")
            .ProducesErrors(400, 403, 404, 502, 503);
        return app;
    }

    private static readonly PagedList<ModelView> Listed = new(ListPaging.Models,
        (tenant, after, limit) => tenant.ListModelsAsync(after, limit),
        (all, after, limit) => all.ListModelsAsync(after, limit),
        v => new ListPosition(v.Namespace, v.Name));

    private static Task<Results<Ok<ModelListResponse>, ErrorResult>> List(TenantScope scope, IGrainFactory grains, ListPaging paging,
        [FromQuery, Description(ListPaging.LimitDescription)] string? limit,
        [FromQuery(Name = ListPaging.Parameter), Description(ListPaging.ContinueDescription)] string? @continue) =>
        paging.ListAsync(grains, Listed, scope, limit, @continue, ModelResponse.From, (items, next) => new ModelListResponse(items, items.Count, next));

    private static async Task<Results<Created<ModelChangeResponse>, ErrorResult>> Create(
        HttpContext context, TenantScope scope, Body<CreateModelRequest> body, IGrainFactory grains)
    {
        var request = body.Value;
        var ns = scope.Required;
        context.SetAuditTarget(ns, request.Name);
        if (ModelRules.CheckName(request.Name) is { } nameError)
        {
            return ApiResults.Error(nameError);
        }
        var result = await grains.GetGrain<IModelGrain>(GrainKeys.Scoped(ns, request.Name!)).CreateAsync(request.ToSpec());
        // No Location header: the contract's answer carries the model itself.
        return ApiResults.From(result, view => TypedResults.Created((string?)null, Changed("Model created successfully", view)));
    }

    private static async Task<Results<Ok<ModelResponse>, ErrorResult>> Get(TenantScope scope, IGrainFactory grains, string name) =>
        ApiResults.From(await Grain(grains, scope, name).GetAsync(), view => TypedResults.Ok(ModelResponse.From(view)));

    private static async Task<Results<Ok<ModelChangeResponse>, ErrorResult>> Update(
        TenantScope scope, Body<UpdateModelRequest> body, IGrainFactory grains, string name) =>
        ApiResults.From(await Grain(grains, scope, name).UpdateAsync(body.Value.ToPatch()), view => TypedResults.Ok(Changed("Model updated successfully", view)));

    private static async Task<Results<Ok<MessageResponse>, ErrorResult>> Delete(TenantScope scope, IGrainFactory grains, string name) =>
        ApiResults.From(await Grain(grains, scope, name).DeleteAsync(), _ => TypedResults.Ok(new MessageResponse("Model deleted successfully")));

    private static IModelGrain Grain(IGrainFactory grains, TenantScope scope, string name) =>
        grains.GetGrain<IModelGrain>(GrainKeys.Scoped(scope.Required, name));

    private static ModelChangeResponse Changed(string message, ModelView view) =>
        new(message, view.Name, view.Namespace, ModelConfig.From(view.Predictor), ModelResponse.From(view));
}
