using System.Globalization;
using Inference.ApiHost.Auth;
using Inference.ApiHost.Http;
using Inference.Grains.Abstractions.Callers;
using Microsoft.Extensions.Options;

namespace Inference.ApiHost.Callers;

/// <summary>Counts every authenticated /api request (and /ws upgrade: a socket costs more than a request) against its caller's limiter grain (one per token subject,
/// so all API hosts share the count), sets the rate-limit headers on the response, and answers 429 with
/// Retry-After past the limit.</summary>
public sealed class CallerRateLimit(RequestDelegate next, IOptions<RateLimitOptions> options)
{
    public async Task InvokeAsync(HttpContext context, IGrainFactory grains)
    {
        var settings = options.Value;
        if (context.User.Identity?.IsAuthenticated != true
            || !(context.Request.Path.StartsWithSegments("/api") || context.Request.Path.StartsWithSegments(Realtime.RealtimeApi.Path))
            || settings.ExcludedPaths.Any(p => context.Request.Path.StartsWithSegments(p, StringComparison.OrdinalIgnoreCase)))
        {
            await next(context);
            return;
        }
        var caller = Caller.From(context.User);
        var key = caller.Subject is { Length: > 0 } subject ? subject : $"tenant:{caller.Tenant}";
        var decision = await grains.GetGrain<ICallerLimiterGrain>(key).AcquireAsync(settings.Policy);
        // Set when the response starts, so error handlers that reset headers cannot lose them.
        context.Response.OnStarting(() =>
        {
            WriteHeaders(context.Response.Headers, decision, settings);
            return Task.CompletedTask;
        });
        if (!decision.Allowed)
        {
            var retryAfter = Seconds(decision.RetryAfter);
            context.Response.Headers.RetryAfter = retryAfter.ToString(CultureInfo.InvariantCulture);
            await ApiResults.WriteErrorAsync(context, StatusCodes.Status429TooManyRequests, "Rate limit exceeded",
                $"At most {settings.RequestsPerMinute} requests per {Describe(settings.Window)} and {settings.Burst} per {Describe(settings.BurstWindow)}; retry in {retryAfter} s");
            return;
        }
        await next(context);
    }

    private static void WriteHeaders(IHeaderDictionary headers, RateDecision decision, RateLimitOptions settings)
    {
        var reset = Seconds(decision.Reset);
        headers["X-RateLimit-Limit"] = decision.Limit.ToString(CultureInfo.InvariantCulture);
        headers["X-RateLimit-Remaining"] = decision.Remaining.ToString(CultureInfo.InvariantCulture);
        headers["X-RateLimit-Reset"] = reset.ToString(CultureInfo.InvariantCulture);
        // IETF draft-ietf-httpapi-ratelimit-headers (draft 7 syntax).
        headers["RateLimit"] = $"limit={decision.Limit}, remaining={decision.Remaining}, reset={reset}";
        headers["RateLimit-Policy"] = $"{decision.Limit};w={Seconds(settings.Window)}, {settings.Burst};w={Seconds(settings.BurstWindow)}";
        if (!decision.Allowed)
        {
            headers.RetryAfter = Seconds(decision.RetryAfter).ToString(CultureInfo.InvariantCulture);
        }
    }

    /// <summary>Whole seconds, rounded up so a client that waits that long is never refused again for it.</summary>
    private static long Seconds(TimeSpan span) => Math.Max(span > TimeSpan.Zero ? 1 : 0, (long)Math.Ceiling(span.TotalSeconds));

    private static string Describe(TimeSpan window) =>
        window == TimeSpan.FromMinutes(1) ? "minute" : window == TimeSpan.FromSeconds(1) ? "second" : $"{window.TotalSeconds:0.#} s";
}
