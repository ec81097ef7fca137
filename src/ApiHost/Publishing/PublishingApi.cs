using Inference.ApiHost.Audit;
using Inference.ApiHost.Auth;
using Inference.ApiHost.Http;
using Inference.ApiHost.Keys;
using Inference.ApiHost.Models;
using Inference.Grains.Abstractions;
using Inference.Grains.Abstractions.Keys;
using Inference.Grains.Abstractions.Publishing;
using System.ComponentModel;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Inference.ApiHost.Publishing;

public static class PublishingApi
{
    public static IEndpointRouteBuilder MapPublishingApi(this IEndpointRouteBuilder app)
    {
        var publish = app.MapGroup("/api/models/{name}/publish").RequireAuthorization().WithAudit("publication")
            .WithTenantScope().WithTags("Publishing");
        publish.MapPost("", Publish).WithName("PublishModel")
            .WithSummary("Publish a Ready model behind the gateway with an API key (shown in full only in this answer)")
            .ProducesErrors(400, 403, 404, 409, 502, 503);
        publish.MapPut("", Update).WithName("UpdatePublication").WithSummary("Change a publication's route, limits or metadata")
            .ProducesErrors(400, 403, 404, 409, 502, 503);
        publish.MapGet("", Get).WithName("GetPublication").WithSummary("Get a model's publication (the key masked)")
            .ProducesErrors(400, 403, 404);
        publish.MapDelete("", Unpublish).WithName("UnpublishModel").WithSummary("Remove a model's publication and revoke its key")
            .ProducesErrors(400, 403, 404, 502, 503);
        publish.MapPost("/rotate-key", RotateKey).WithAuditAction("key.rotate").WithName("RotateApiKey")
            .WithSummary("Issue a new API key (shown in full only in this answer); the old one stops now or after a grace period")
            .ProducesErrors(400, 403, 404, 409, 503);
        publish.MapGet("/usage", Usage).WithName("GetPublicationUsage")
            .WithSummary("A publication's requests, tokens and 429s per minute over the last hour (window=1h) or per hour over the last day (window=24h)")
            .ProducesErrors(400, 403, 404);
        app.MapGroup("/api/published-models").RequireAuthorization().WithTenantScope().WithTags("Publishing")
            .MapGet("", List).WithName("ListPublishedModels").WithSummary("List the publications the caller may see (keys masked)")
            .ProducesErrors(400, 403);
        return app;
    }

    private static async Task<Results<Created<PublishChangeResponse>, ErrorResult>> Publish(
        TenantScope scope, Body<PublishRequest> body, IGrainFactory grains, ApiKeySigner signer, string name)
    {
        var key = signer.Create();
        var result = await Grain(grains, scope, name).PublishAsync(body.Value.ToSpec(), key);
        // No Location header: the answer carries the publication, and the key only this once.
        return ApiResults.From(result, view => TypedResults.Created((string?)null,
            new PublishChangeResponse("Model published successfully", PublishedModelResponse.From(view))));
    }

    private static async Task<Results<Ok<PublishChangeResponse>, ErrorResult>> Update(
        TenantScope scope, Body<PublishRequest> body, IGrainFactory grains, string name)
    {
        var request = body.Value;
        if (request.UnchangeableField() is { } field)
        {
            return ApiResults.Invalid($"Field '{field}' cannot be changed on a published model; unpublish and publish again");
        }
        return ApiResults.From(await Grain(grains, scope, name).UpdateAsync(request.ToPatch()), view => TypedResults.Ok(
            new PublishChangeResponse("Published model updated successfully", PublishedModelResponse.From(view))));
    }

    private static async Task<Results<Ok<PublishedModelResponse>, ErrorResult>> Get(TenantScope scope, IGrainFactory grains, string name) =>
        ApiResults.From(await Grain(grains, scope, name).GetAsync(), view => TypedResults.Ok(PublishedModelResponse.From(view)));

    private static async Task<Results<Ok<MessageResponse>, ErrorResult>> Unpublish(TenantScope scope, IGrainFactory grains, string name) =>
        ApiResults.From(await Grain(grains, scope, name).UnpublishAsync(), _ => TypedResults.Ok(new MessageResponse("Model unpublished successfully")));

    private static async Task<Results<Ok<RotateKeyResponse>, ErrorResult>> RotateKey(
        TenantScope scope, [OptionalBody] Body<RotateKeyRequest> body, IGrainFactory grains, ApiKeySigner signer, string name)
    {
        var key = signer.Create();
        var grace = TimeSpan.FromSeconds(body.ValueOrNull?.GracePeriodSeconds ?? 0);
        return ApiResults.From(await Grain(grains, scope, name).RotateKeyAsync(key, grace), rotated => TypedResults.Ok(
            new RotateKeyResponse("API key rotated successfully", key.FullKey, rotated.UpdatedAt, rotated.OldKeyValidUntil)));
    }

    /// <summary>Requests, tokens and 429s per minute over the last hour (<c>window=1h</c>, the default) or per hour over
    /// the last day (<c>window=24h</c>), from the key's grain.</summary>
    private static async Task<Results<Ok<UsageSeriesResponse>, ErrorResult>> Usage(TenantScope scope, IGrainFactory grains, string name,
        [FromQuery(Name = "window")] string? window)
    {
        UsageWindow? parsed = window switch
        {
            null or "" or "1h" => UsageWindow.LastHour,
            "24h" => UsageWindow.LastDay,
            _ => null,
        };
        if (parsed is null)
        {
            return ApiResults.Invalid("Field 'window' must be '1h' or '24h'");
        }
        return ApiResults.From(await Grain(grains, scope, name).GetUsageSeriesAsync(parsed.Value), series => TypedResults.Ok(
            UsageSeriesResponse.From(name, scope.Required, parsed == UsageWindow.LastDay ? "24h" : "1h", series)));
    }

    private static readonly PagedList<PublishedModelView> Listed = new(ListPaging.Published,
        (tenant, after, limit) => tenant.ListPublishedAsync(after, limit),
        (all, after, limit) => all.ListPublishedAsync(after, limit),
        v => new ListPosition(v.Namespace, v.ModelName));

    private static Task<Results<Ok<PublishedModelListResponse>, ErrorResult>> List(TenantScope scope, IGrainFactory grains, ListPaging paging,
        [FromQuery, Description(ListPaging.LimitDescription)] string? limit,
        [FromQuery(Name = ListPaging.Parameter), Description(ListPaging.ContinueDescription)] string? @continue) =>
        paging.ListAsync(grains, Listed, scope, limit, @continue, v => PublishedModelResponse.From(v, withDocumentation: false),
            (items, next) => new PublishedModelListResponse(items, items.Count, next));

    private static IPublishedModelGrain Grain(IGrainFactory grains, TenantScope scope, string name) =>
        grains.GetGrain<IPublishedModelGrain>(GrainKeys.Scoped(scope.Required, name));
}
