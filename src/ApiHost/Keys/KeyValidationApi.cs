using System.Globalization;
using System.Net;
using System.Text.Json;
using Inference.ApiHost.Auth;
using Inference.Grains.Abstractions.Keys;
using Microsoft.Extensions.Primitives;

namespace Inference.ApiHost.Keys;

/// <summary>Key validation, the gateway's external authorization, called on every external request. Two forms:
/// <list type="bullet">
/// <item><c>POST /api/validate-api-key</c> with only a key (the contract's form), for callers that do their own
/// routing: any publication's valid key is admitted.</item>
/// <item><c>{METHOD} /api/validate-api-key/{namespace}/{model}{original path}</c>, what each publication's
/// SecurityPolicy sends (Envoy prepends the policy's path to the original path and keeps the original method and
/// host): only that publication's key is admitted, and only for the publication's host and path prefix.</item>
/// </list>
/// Anonymous by design; cheap for junk (the key's keyed tag first, no grain), decided for a real key from a lease its
/// grain grants (<see cref="KeyLeases"/>: no grain call while the lease lasts), and refusing the failures of sources
/// that keep failing, never a valid key.</summary>
public static class KeyValidationApi
{
    public const string Path = "/api/validate-api-key";

    /// <summary>Bound on the JSON body: a key and a token count fit in far less.</summary>
    private const int BodyLimit = 4 * 1024;

    /// <summary>Bound on one request's token cost, far above any real one: the key's hourly sums stay far from
    /// overflowing.</summary>
    public const long MaxTokens = 1L << 40;

    /// <summary>A namespace or model name is a DNS label.</summary>
    private const int MaxNameLength = 63;

    private static readonly ValidateKeyResponse Missing = new(false, Error: "API key required", Details: "Send the key in the X-API-Key header, as 'Authorization: Bearer <key>', or as {\"apiKey\": \"...\"}");
    private static readonly ValidateKeyResponse Invalid = new(false, Error: "Invalid API key");
    private static readonly ValidateKeyResponse Revoked = new(false, Error: "API key revoked");
    private static readonly ValidateKeyResponse Expired = new(false, Error: "API key expired");
    private static readonly ValidateKeyResponse Limited = new(false, Error: "Rate limit exceeded");
    private static readonly ValidateKeyResponse WrongPublication = new(false, Error: "API key not valid for this route", Details: "The key belongs to another publication, host or path");
    private static readonly ValidateKeyResponse BadTarget = new(false, Error: "Invalid request format", Details: "Forwarded validations go to /api/validate-api-key/{namespace}/{model}/{original path}");
    private static readonly ValidateKeyResponse SourceLimited = new(false, Error: "Too many failed validations", Details: "This source sent too many invalid keys; retry later");
    private static readonly ValidateKeyResponse BadTokens = new(false, Error: "Invalid request format", Details: $"Field 'tokens' (or X-Tokens) must be an integer from 0 to {MaxTokens}");

    public static IEndpointRouteBuilder MapKeyValidationApi(this IEndpointRouteBuilder app)
    {
        // Resolved once: the hot path does no service lookups. The validation port (KeyValidationListener) hands its
        // application the API host's instances of these: a service added here must be handed there too.
        var throttle = app.ServiceProvider.GetRequiredService<SourceThrottle>();
        var keys = app.ServiceProvider.GetRequiredService<KeyLeases>();
        var signer = app.ServiceProvider.GetRequiredService<ApiKeySigner>();
        var metrics = app.ServiceProvider.GetRequiredService<ValidationMetrics>();
        RequestDelegate validate = context => Validate(context, throttle, keys, signer, metrics);
        app.MapPost(Path, validate).AllowAnonymous().WithMetadata(ShortcutMarker.Instance)
            .WithName("ValidateApiKey").WithSummary("Validate an API key (the contract's form: any publication's key)")
            .Describe(validate, forwarded: false);
        // Envoy's HTTP external authorization sends the original request's method, with the policy's path prefixed
        // to the original path.
        app.MapMethods(Path + "/{namespace}/{model}/{**forwardedPath}", ForwardedMethods, validate).AllowAnonymous().WithMetadata(ShortcutMarker.Instance)
            .WithName("ValidateApiKeyForPublication").WithSummary("Validate an API key for one publication, as its SecurityPolicy calls it")
            .Describe(validate, forwarded: true);
        return app;
    }

    private static readonly string[] ForwardedMethods = [HttpMethods.Get, HttpMethods.Head, HttpMethods.Post, HttpMethods.Put,
        HttpMethods.Delete, HttpMethods.Patch, HttpMethods.Options];

    /// <summary>What the reference says of a validation route: anonymous (the gateway calls it), exempt from tenant
    /// scope, the key in a header or the body, and every answer in <see cref="ValidateKeyResponse"/>'s shape.</summary>
    private static IEndpointConventionBuilder Describe(this IEndpointConventionBuilder route, RequestDelegate handler, bool forwarded)
    {
        // A RequestDelegate endpoint carries no method for the API explorer to read; this one's takes the context only.
        route.WithMetadata(handler.Method);
        // Counted and timed by ValidationMetrics instead: the framework's per-request duration histogram (six tags
        // looked up on every answer) was the larger part of what metrics cost a validation (bench/RESULTS.md).
        route.DisableHttpMetrics();
        route.WithoutTenantScope("anonymous: the gateway asks about any publication's key").WithTags("Key validation")
            .WithMetadata(new Inference.ApiHost.Http.RequestBodyType(typeof(ValidateKeyRequest), Optional: true));
        int[] statuses = forwarded ? [200, 400, 401, 403, 429] : [200, 400, 401, 429];
        foreach (var status in statuses)
        {
            route.WithMetadata(new ProducesResponseTypeMetadata(status, typeof(ValidateKeyResponse), ["application/json"]));
        }
        return route;
    }

    /// <summary>Answers key validations ahead of routing and of the middlewares after it: a validation is anonymous,
    /// exempt from the caller limit and never a WebSocket, so authentication (a request scope, a JwtBearer handler,
    /// an empty identity), the caller limit, authorization and the WebSocket check would only cost it, and routing
    /// would give every forwarded validation a route-values dictionary that nothing reads. Place it after the
    /// exception handler (a cluster failure is a 503 like anywhere else) and before <c>UseRouting</c>. The request is
    /// still tagged with its mapped endpoint, whose metadata the framework reads (request metrics are off for these
    /// routes, see <see cref="Describe"/>); other methods go on to routing (and its 405). Kept because it measurably pays (bench/cpu-per-validation.sh, bench/RESULTS.md),
    /// unlike the answer buffer and header caches that were tried and removed.</summary>
    public static IApplicationBuilder UseKeyValidationShortcut(this IApplicationBuilder app)
    {
        var services = app.ApplicationServices;
        ValidationEndpoints? endpoints = null; // the mapped endpoints exist once the app has been built
        return app.Use(next => context =>
        {
            var request = context.Request;
            if (!request.Path.StartsWithSegments(Path, StringComparison.OrdinalIgnoreCase, out var forwardedPath)
                || !(HttpMethods.IsPost(request.Method) || (IsForwarded(forwardedPath) && IsForwardedMethod(request.Method))))
            {
                return next(context);
            }
            endpoints ??= ValidationEndpoints.From(services.GetRequiredService<EndpointDataSource>());
            var endpoint = IsForwarded(forwardedPath) ? endpoints.Forwarded : endpoints.Direct;
            context.SetEndpoint(endpoint);
            return endpoint.RequestDelegate!(context);
        });
    }

    /// <summary>The bare path, with or without a final slash, is the contract's form; anything longer is forwarded.</summary>
    private static bool IsForwarded(PathString rest) => rest.HasValue && rest.Value != "/";

    private static bool IsForwardedMethod(string method) =>
        HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsPut(method) || HttpMethods.IsDelete(method)
        || HttpMethods.IsPatch(method) || HttpMethods.IsOptions(method);

    private sealed class ShortcutMarker
    {
        public static readonly ShortcutMarker Instance = new();
    }

    private sealed record ValidationEndpoints(Endpoint Direct, Endpoint Forwarded)
    {
        public static ValidationEndpoints From(EndpointDataSource source)
        {
            var mapped = source.Endpoints.OfType<RouteEndpoint>().Where(e => e.Metadata.GetMetadata<ShortcutMarker>() is not null).ToList();
            return new(mapped.Single(e => e.RoutePattern.Parameters.Count == 0), mapped.Single(e => e.RoutePattern.Parameters.Count > 0));
        }
    }

    private static async Task Validate(HttpContext context, SourceThrottle throttle, KeyLeases keys, ApiKeySigner signer, ValidationMetrics metrics)
    {
        var started = metrics.Start();
        var source = throttle.Source(context);
        var request = context.Request;
        if (!TryTarget(request, out var target))
        {
            metrics.BadRequest(started);
            await Answer(context, StatusCodes.Status400BadRequest, BadTarget, throttle.Limit, throttle.Limit, 0, 0, "failures");
            return;
        }
        string? key = null;
        long tokens = 0;
        if (request.Headers.TryGetValue("X-API-Key", out var header) && header.Count > 0)
        {
            key = header[0];
        }
        else if (request.Headers.Authorization is { Count: > 0 } authorization
            && authorization[0] is { } bearer && bearer.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            key = bearer[7..].Trim();
        }
        if (request.Headers.TryGetValue("X-Tokens", out var tokenHeader) && !TryTokens(tokenHeader, out tokens))
        {
            metrics.BadRequest(started);
            await Answer(context, StatusCodes.Status400BadRequest, BadTokens, throttle.Limit, throttle.Limit, 0, 0, "failures");
            return;
        }
        if (HttpMethods.IsPost(request.Method) && (request.ContentLength is > 0 || (request.ContentLength is null && request.Headers.TransferEncoding.Count > 0)))
        {
            var (body, bad) = await ReadBody(request);
            if (bad is { } error)
            {
                metrics.BadRequest(started);
                await Answer(context, StatusCodes.Status400BadRequest, error, throttle.Limit, throttle.Limit, 0, 0, "failures");
                return;
            }
            key ??= body?.ApiKey;
            if (body?.Tokens is { } t)
            {
                if (t is < 0 or > MaxTokens)
                {
                    metrics.BadRequest(started);
                    await Answer(context, StatusCodes.Status400BadRequest, BadTokens, throttle.Limit, throttle.Limit, 0, 0, "failures");
                    return;
                }
                tokens = t;
            }
        }
        if (key is null)
        {
            // Not a failed validation: a request with no key (a gateway probe, a client that forgot it) costs nothing
            // and counts against no one.
            metrics.Missing(started);
            await Answer(context, StatusCodes.Status401Unauthorized, Missing, throttle.Limit, throttle.Limit, 0, 0, "failures");
            return;
        }

        // Decided first, so that a valid key is admitted whatever its source's failures; the throttle only refuses
        // failures (and a forged key costs a tag check, no grain).
        var (check, decidedBy) = ApiKeys.HasKeyShape(key) ? await Decide(keys, signer, key, tokens, target)
            : (KeyCheck.Unknown, ValidationMetrics.DecidedBy.Signature);
        switch (check.Outcome)
        {
            case KeyOutcome.Valid:
                metrics.Decided(check.Outcome, decidedBy, started);
                context.Response.Headers["X-Tenant"] = check.Tenant;
                context.Response.Headers["X-Model"] = check.Model;
                await Answer(context, StatusCodes.Status200OK, new ValidateKeyResponse(true, check.Tenant, check.Model), check);
                return;
            case KeyOutcome.Limited:
                metrics.Decided(check.Outcome, decidedBy, started);
                await Answer(context, StatusCodes.Status429TooManyRequests, Limited with { Details = $"Limit '{check.LimitedBy}' reached" }, check, check.RetryAfterSeconds);
                return;
        }
        var retry = throttle.RetryAfter(source, out var failuresLeft);
        if (retry > 0)
        {
            metrics.SourceLimited(decidedBy, started);
            await Answer(context, StatusCodes.Status429TooManyRequests, SourceLimited, throttle.Limit, 0, retry, retry, "failures");
            return;
        }
        throttle.Failed(source);
        metrics.Decided(check.Outcome, decidedBy, started);
        var (status, answer) = check.Outcome switch
        {
            KeyOutcome.Forbidden => (StatusCodes.Status403Forbidden, WrongPublication),
            KeyOutcome.Revoked => (StatusCodes.Status401Unauthorized, Revoked),
            KeyOutcome.Expired => (StatusCodes.Status401Unauthorized, Expired),
            _ => (StatusCodes.Status401Unauthorized, Invalid),
        };
        await Answer(context, status, answer, throttle.Limit, Math.Max(0, failuresLeft - 1), 0, 0, "failures");
    }

    /// <summary>What a forwarded validation is for: <c>/{namespace}/{model}</c> from the policy's path, then the
    /// original path; the original host (Envoy keeps it on the check), the model header openai routes match on, and
    /// the calling tenant. The bare form names no publication: only a calling tenant, if one is sent.</summary>
    private static bool TryTarget(HttpRequest request, out KeyTarget? target)
    {
        target = null;
        var headers = request.Headers;
        var caller = headers["X-Caller-Tenant"] is { Count: > 0 } c ? c[0] : null;
        request.Path.StartsWithSegments(Path, StringComparison.OrdinalIgnoreCase, out var rest);
        if (!IsForwarded(rest))
        {
            if (caller is not null)
            {
                target = new KeyTarget(null, null, null, null, null, caller);
            }
            return true;
        }
        var path = rest.Value.AsSpan(1);
        var first = path.IndexOf('/');
        if (first <= 0)
        {
            return false;
        }
        var ns = path[..first];
        path = path[(first + 1)..];
        var second = path.IndexOf('/');
        var model = second < 0 ? path : path[..second];
        if (model.IsEmpty || ns.Length > MaxNameLength || model.Length > MaxNameLength)
        {
            return false;
        }
        var original = second < 0 ? "/" : path[second..].ToString();
        var modelHeader = headers["X-AI-EG-Model"] is { Count: > 0 } m ? m[0] : null;
        target = new KeyTarget(ns.ToString(), model.ToString(), request.Host.Host, original, modelHeader, caller);
        return true;
    }

    /// <summary>Decided from the key's lease on this host, else from one its grain grants. A key whose tag is wrong is
    /// unknown without touching a grain; the tag (an HMAC) is only computed when the key is not held here: only an
    /// issued key gets a lease.</summary>
    private static ValueTask<(KeyCheck, ValidationMetrics.DecidedBy)> Decide(KeyLeases keys, ApiKeySigner signer, string key, long tokens, KeyTarget? target)
    {
        Span<char> hash = stackalloc char[ApiKeys.HashLength];
        ApiKeys.Hash(key, hash);
        if (keys.TryDecideHeld(hash, tokens, target, out var check, out var decidedBy))
        {
            return ValueTask.FromResult((check, decidedBy));
        }
        if (!signer.IsGenuine(key))
        {
            return ValueTask.FromResult((KeyCheck.Unknown, ValidationMetrics.DecidedBy.Signature));
        }
        var keyHash = new string(hash);
        return keys.TryRemembered(keyHash, out check) ? ValueTask.FromResult((check, ValidationMetrics.DecidedBy.Remembered))
            : FromGrain(keys.ValidateAsync(keyHash, tokens, target));
    }

    private static async ValueTask<(KeyCheck, ValidationMetrics.DecidedBy)> FromGrain(Task<KeyCheck> decided) =>
        (await decided, ValidationMetrics.DecidedBy.Grain);

    private static async Task<(ValidateKeyRequest? Body, ValidateKeyResponse? Error)> ReadBody(HttpRequest request)
    {
        if (request.ContentLength > BodyLimit)
        {
            return (null, new ValidateKeyResponse(false, Error: "Invalid request format", Details: $"Request body exceeds {BodyLimit} bytes"));
        }
        try
        {
            var body = await JsonSerializer.DeserializeAsync(request.Body, KeyJson.Default.ValidateKeyRequest, request.HttpContext.RequestAborted);
            return (body, null);
        }
        catch (JsonException)
        {
            return (null, new ValidateKeyResponse(false, Error: "Invalid request format", Details: "Body must be a JSON object such as {\"apiKey\": \"pk_live_...\", \"tokens\": 0}"));
        }
    }

    private static bool TryTokens(StringValues header, out long tokens) =>
        long.TryParse(header[0], NumberStyles.None, CultureInfo.InvariantCulture, out tokens) && tokens <= MaxTokens;

    private static ValueTask Answer(HttpContext context, int status, in ValidateKeyResponse body, KeyCheck check, int retryAfter = 0) =>
        Answer(context, status, body, check.Limit, check.Remaining, check.ResetSeconds, retryAfter, null, check.HourLimit);

    /// <summary>Writes the rate-limit headers (the X-RateLimit-* trio, and the IETF draft's RateLimit /
    /// RateLimit-Policy in the draft-07 form) and the JSON answer. For a valid key the numbers are the key's
    /// per-minute window; for failures they are the source's failure budget.</summary>
    private static ValueTask Answer(HttpContext context, int status, in ValidateKeyResponse body, int limit, int remaining, int reset,
        int retryAfter, string? policyName, int hourLimit = 0)
    {
        var response = context.Response;
        response.StatusCode = status;
        var headers = response.Headers;
        var limitText = limit.ToString(CultureInfo.InvariantCulture);
        var remainingText = remaining.ToString(CultureInfo.InvariantCulture);
        var resetText = reset.ToString(CultureInfo.InvariantCulture);
        headers["X-RateLimit-Limit"] = limitText;
        headers["X-RateLimit-Remaining"] = remainingText;
        headers["X-RateLimit-Reset"] = resetText;
        headers["RateLimit"] = $"limit={limitText}, remaining={remainingText}, reset={resetText}";
        headers["RateLimit-Policy"] = policyName is not null ? $"{limitText};w=60;comment=\"{policyName}\""
            : hourLimit > 0 ? $"{limitText};w=60, {hourLimit.ToString(CultureInfo.InvariantCulture)};w=3600" : $"{limitText};w=60";
        if (retryAfter > 0)
        {
            headers.RetryAfter = retryAfter.ToString(CultureInfo.InvariantCulture);
        }
        headers.CacheControl = "no-store";
        // Serialized ahead so the answer goes out with a Content-Length: one send for headers and body. Streamed
        // (WriteAsJsonAsync) it would be chunked, and the closing chunk a second send and a second wake-up of the
        // gateway on every validation.
        var json = JsonSerializer.SerializeToUtf8Bytes(body, KeyJson.Default.ValidateKeyResponse);
        response.ContentType = "application/json; charset=utf-8";
        response.ContentLength = json.Length;
        if (HttpMethods.IsHead(context.Request.Method))
        {
            return ValueTask.CompletedTask;
        }
        // One write, not Write + Flush: Kestrel puts the headers and a first write straight into the connection's
        // output; data written ahead of the headers it would stage in a pooled block first.
        var written = response.BodyWriter.WriteAsync(json, context.RequestAborted);
        return written.IsCompletedSuccessfully ? ValueTask.CompletedTask : new ValueTask(written.AsTask());
    }
}
