using System.ComponentModel;
using System.Globalization;
using Inference.ApiHost.Auth;
using Inference.ApiHost.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Inference.Shared.Models;

namespace Inference.ApiHost.Audit;

/// <summary><see cref="Count"/> is 1 for a single record, more for an aggregated row.</summary>
public sealed record AuditRecordResponse(
    DateTimeOffset Time, string Actor, string? Tenant, string Action, string? Target, string Outcome, int Status, string? SourceIp, int Count)
{
    public static AuditRecordResponse From(AuditRecord r) => new(r.Time, r.Actor, r.Tenant, r.Action, r.Target, r.Outcome, r.Status, r.SourceIp, r.Count);
}

/// <summary><see cref="Continue"/>, while more records may follow, is the token for the next page: the lists' paging
/// (<see cref="ListPaging"/>), under the same name.</summary>
/// <summary>A page of the audit trail. <c>ContinuationToken</c> repeats <c>Continue</c> under the trail's former name,
/// so clients written against it keep paging.</summary>
public sealed record AuditPageResponse(IReadOnlyList<AuditRecordResponse> Records, int Count, string? Continue)
{
    [System.ComponentModel.Description("The same token as 'continue', under the audit trail's former name")]
    public string? ContinuationToken => Continue;
}

public static class AuditApi
{
    public const int DefaultLimit = 50;
    public const int MaxLimit = ListPaging.MaxLimit;

    private const string LimitDescription = "At most this many records (1-500, default 50). When more remain, the answer carries 'continue'.";

    /// <summary>The name the audit trail's token had before it took the lists' name; links and clients that use it
    /// keep working.</summary>
    private const string FormerParameter = "continuationToken";

    private const string FormerDescription = "The former name of 'continue', still accepted (not both).";

    public static IEndpointRouteBuilder MapAuditApi(this IEndpointRouteBuilder app)
    {
        // The same trail twice: every tenant for an admin, one's own tenant for everyone else.
        app.MapGroup("/api/admin/audit").RequireAuthorization(AuthExtensions.AdminPolicy).WithTenantScope("tenant").WithTags("Audit")
            .MapGet("", Query).WithName("QueryAuditTrail").WithSummary("Read the audit trail of every tenant or one (admins), newest first")
            .ProducesErrors(400, 403, 503);
        app.MapGroup("/api/audit").RequireAuthorization().WithTenantScope("tenant").WithTags("Audit")
            .MapGet("", Query).WithName("QueryOwnAuditTrail").WithSummary("Read the caller's own tenant's audit trail, newest first")
            .ProducesErrors(400, 403, 503);
        return app;
    }

    public static IServiceCollection AddAuditLog(this IServiceCollection services, Silo.ClusterSettings settings)
    {
        services.AddSingleton(settings);
        services.AddSettings<AuditOptions>(AuditOptions.Section, o => o.Problem());
        services.AddSingleton<TableAuditLog>();
        services.AddSingleton<IAuditLog>(sp => sp.GetRequiredService<TableAuditLog>());
        services.AddHostedService<AuditMaintenance>();
        return services;
    }

    /// <summary>The <c>tenant</c> query parameter is decided into <paramref name="scope"/> by the tenant-scope filter.</summary>
    private static async Task<Results<Ok<AuditPageResponse>, ErrorResult>> Query(HttpContext context, TenantScope scope, IAuditLog audit, ListPaging paging,
        ILogger<IAuditLog> logger, [FromQuery] string? action, [FromQuery] string? from, [FromQuery] string? to,
        [FromQuery, Description(LimitDescription)] string? limit,
        [FromQuery(Name = ListPaging.Parameter), Description(ListPaging.ContinueDescription)] string? @continue,
        [FromQuery(Name = FormerParameter), Description(FormerDescription)] string? continuationToken)
    {
        if (action is not null && (action.Length is 0 or > 64 || !action.All(c => char.IsAsciiLetterLower(c) || c is '.' or '-')))
        {
            return ApiResults.Invalid("Query parameter 'action' must be an action name such as model.create");
        }
        var (fromTime, fromError) = Time(from, "from");
        var (toTime, toError) = Time(to, "to");
        if ((fromError ?? toError) is { } timeError)
        {
            return timeError;
        }
        if (fromTime > toTime)
        {
            return ApiResults.Invalid("Query parameter 'from' must not be after 'to'");
        }
        if (ListPaging.ReadLimit(limit, DefaultLimit, MaxLimit, out var size) is { } invalidLimit)
        {
            return invalidLimit;
        }
        if (!string.IsNullOrEmpty(@continue) && !string.IsNullOrEmpty(continuationToken))
        {
            return ApiResults.Invalid($"Pass the token as '{ListPaging.Parameter}' only ('{FormerParameter}' is its former name)");
        }
        // The trail's position is a row key; it names no tenant, the scope (the partition read) is the caller's.
        var (after, tokenError) = string.IsNullOrEmpty(continuationToken)
            ? paging.ReadToken(ListPaging.Audit, scope, @continue, IsPosition)
            : paging.ReadToken(ListPaging.Audit, scope, continuationToken, IsPosition, FormerParameter);
        if (tokenError is not null)
        {
            return tokenError;
        }
        AuditPage page;
        try
        {
            page = await audit.QueryAsync(new AuditQuery(scope.Namespace, action, fromTime, toTime, size, after?.Name), context.RequestAborted);
        }
        catch (Exception e) when (e is Azure.RequestFailedException or HttpRequestException)
        {
            logger.LogError(e, "Reading the audit trail failed");
            return ApiResults.Unavailable("The audit trail cannot be read right now");
        }
        var next = page.Next is { } last ? paging.Issue(ListPaging.Audit, scope, new TokenPosition(null, last)) : null;
        return TypedResults.Ok(new AuditPageResponse(page.Records.Select(AuditRecordResponse.From).ToList(), page.Records.Count, next));
    }

    private static bool IsPosition(string? tenant, string name) => tenant is null && TableAuditLog.IsRowKey(name);

    private static (DateTimeOffset? Time, ErrorResult? Error) Time(string? value, string name)
    {
        if (value is null)
        {
            return (null, null);
        }
        return DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t)
            ? (t, null)
            : (null, ApiResults.Invalid($"Query parameter '{name}' must be an ISO 8601 time, e.g. 2026-01-31T12:00:00Z"));
    }
}
