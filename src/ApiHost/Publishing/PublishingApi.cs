using Inference.ApiHost.Audit;
using Inference.ApiHost.Auth;
using Inference.ApiHost.Http;
using Inference.ApiHost.Keys;
using Inference.ApiHost.Models;
using Inference.Grains.Abstractions;
using Inference.Grains.Abstractions.Keys;
using Inference.Grains.Abstractions.Publishing;
using Inference.Grains.Abstractions.Tenants;
using Microsoft.AspNetCore.Mvc;

namespace Inference.ApiHost.Publishing;

public static class PublishingApi
{
    public static IEndpointRouteBuilder MapPublishingApi(this IEndpointRouteBuilder app)
    {
        var publish = app.MapGroup("/api/models/{name}/publish").RequireAuthorization().WithAudit("publication");
        publish.MapPost("", Publish);
        publish.MapPut("", Update);
        publish.MapGet("", Get);
        publish.MapDelete("", Unpublish);
        publish.MapPost("/rotate-key", RotateKey).WithAuditAction("key.rotate");
        publish.MapGet("/usage", Usage);
        app.MapGet("/api/published-models", List).RequireAuthorization();
        return app;
    }

    private static async Task<IResult> Publish(HttpContext context, IGrainFactory grains, ApiKeySigner signer, string name, [FromQuery(Name = "namespace")] string? ns)
    {
        var (request, bodyError) = await ReadConfigAsync(context.Request);
        if (bodyError is not null)
        {
            return bodyError;
        }
        var tenantId = request!.Config!.TenantId;
        var (grain, error) = await Resolve(context, grains, name, ns ?? request.Namespace ?? tenantId, tenantId);
        if (error is not null)
        {
            return error;
        }
        var key = signer.Create();
        var result = await grain!.PublishAsync(request.ToSpec(), key);
        return ApiResults.From(result, view => Results.Json(
            new PublishChangeResponse("Model published successfully", PublishedModelResponse.From(view)),
            ApiJson.Options, statusCode: StatusCodes.Status201Created));
    }

    private static async Task<IResult> Update(HttpContext context, IGrainFactory grains, string name, [FromQuery(Name = "namespace")] string? ns)
    {
        var (request, bodyError) = await ReadConfigAsync(context.Request);
        if (bodyError is not null)
        {
            return bodyError;
        }
        if (request!.UnchangeableField() is { } field)
        {
            return ApiResults.Invalid($"Field '{field}' cannot be changed on a published model; unpublish and publish again");
        }
        var tenantId = request.Config!.TenantId;
        var (grain, error) = await Resolve(context, grains, name, ns ?? request.Namespace ?? tenantId, tenantId);
        return error ?? ApiResults.From(await grain!.UpdateAsync(request.ToPatch()), view => Results.Json(
            new PublishChangeResponse("Published model updated successfully", PublishedModelResponse.From(view)), ApiJson.Options));
    }

    private static async Task<IResult> Get(HttpContext context, IGrainFactory grains, string name, [FromQuery(Name = "namespace")] string? ns)
    {
        var (grain, error) = await Resolve(context, grains, name, ns, null);
        return error ?? ApiResults.From(await grain!.GetAsync(), view => Results.Json(PublishedModelResponse.From(view), ApiJson.Options));
    }

    private static async Task<IResult> Unpublish(HttpContext context, IGrainFactory grains, string name, [FromQuery(Name = "namespace")] string? ns)
    {
        var (grain, error) = await Resolve(context, grains, name, ns, null);
        return error ?? ApiResults.From(await grain!.UnpublishAsync(), _ => Results.Json(new MessageResponse("Model unpublished successfully"), ApiJson.Options));
    }

    private static async Task<IResult> RotateKey(HttpContext context, IGrainFactory grains, ApiKeySigner signer, string name, [FromQuery(Name = "namespace")] string? ns)
    {
        var request = new RotateKeyRequest(null, null);
        if (context.Request.ContentLength is > 0 || context.Request.Headers.TransferEncoding.Count > 0)
        {
            var (body, bodyError) = await JsonBody.ReadAsync<RotateKeyRequest>(context.Request);
            if (bodyError is not null)
            {
                return bodyError;
            }
            request = body!;
        }
        var (grain, error) = await Resolve(context, grains, name, ns ?? request.Namespace, null);
        if (error is not null)
        {
            return error;
        }
        var key = signer.Create();
        var result = await grain!.RotateKeyAsync(key, TimeSpan.FromSeconds(request.GracePeriodSeconds ?? 0));
        return ApiResults.From(result, rotated => Results.Json(
            new RotateKeyResponse("API key rotated successfully", key.FullKey, rotated.UpdatedAt, rotated.OldKeyValidUntil), ApiJson.Options));
    }

    /// <summary>Requests, tokens and 429s per minute over the last hour (<c>window=1h</c>, the default) or per hour over
    /// the last day (<c>window=24h</c>), from the key's grain.</summary>
    private static async Task<IResult> Usage(HttpContext context, IGrainFactory grains, string name, [FromQuery(Name = "namespace")] string? ns, [FromQuery(Name = "window")] string? window)
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
        var (grain, error) = await Resolve(context, grains, name, ns, null);
        if (error is not null)
        {
            return error;
        }
        var tenant = grain!.GetPrimaryKeyString().Split('/')[0];
        return ApiResults.From(await grain!.GetUsageSeriesAsync(parsed.Value), series => Results.Json(
            UsageSeriesResponse.From(name, tenant, parsed == UsageWindow.LastDay ? "24h" : "1h", series), ApiJson.Options));
    }

    private static async Task<IResult> List(HttpContext context, IGrainFactory grains, [FromQuery(Name = "namespace")] string? ns)
    {
        var (scope, error) = TenantScope.Resolve(Caller.From(context.User), ns);
        if (error is not null)
        {
            return error;
        }
        var listed = scope is not null
            ? await grains.GetGrain<ITenantGrain>(scope).ListPublishedAsync()
            : await grains.GetGrain<ITenantListingGrain>(0).ListPublishedAsync();
        var views = listed.Select(v => PublishedModelResponse.From(v, withDocumentation: false)).ToList();
        return Results.Json(new PublishedModelListResponse(views, views.Count), ApiJson.Options);
    }

    /// <summary>The body of a publish or an update: a JSON object with a <c>config</c>.</summary>
    private static async Task<(PublishRequest? Request, IResult? Error)> ReadConfigAsync(HttpRequest http)
    {
        var (request, error) = await JsonBody.ReadAsync<PublishRequest>(http);
        return error is not null ? (null, error)
            : request!.Config is null ? (null, ApiResults.Invalid("Field 'config' is required"))
            : (request, null);
    }

    /// <summary>The publication grain of a named model in the caller's scope; a tenant naming another tenant
    /// (query, body or config.tenantId) is refused with 403.</summary>
    private static async Task<(IPublishedModelGrain? Grain, IResult? Error)> Resolve(
        HttpContext context, IGrainFactory grains, string name, string? ns, string? tenantId)
    {
        var caller = Caller.From(context.User);
        if (tenantId is not null && ns is not null && tenantId != ns)
        {
            return (null, ApiResults.Invalid("Field 'config.tenantId' must match 'namespace'"));
        }
        var (resolved, error) = await TenantScope.ResolveModelAsync(caller, ns, name, grains);
        context.SetAuditTarget(resolved ?? ns, name);
        return error is not null ? (null, error) : (grains.GetGrain<IPublishedModelGrain>(GrainKeys.Scoped(resolved!, name)), null);
    }
}
