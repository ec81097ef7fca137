using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Inference.Grains.Abstractions.Keys;
using Microsoft.Extensions.Primitives;

namespace Inference.ApiHost.Keys;

/// <summary><c>POST /api/validate-api-key</c>: the gateway's external authorization, called on every external
/// request. Anonymous by design; cheap for junk (checksum first, no grain), at most one grain call for a real key
/// (shared with the requests for the same key that arrive meanwhile: <see cref="KeyValidationBatcher"/>), and
/// refusing sources that keep failing.</summary>
public static class KeyValidationApi
{
    public const string Path = "/api/validate-api-key";

    /// <summary>Bound on the JSON body: a key and a token count fit in far less.</summary>
    private const int BodyLimit = 4 * 1024;

    private static readonly ValidateKeyResponse Missing = new(false, Error: "API key required", Details: "Send the key in the X-API-Key header, as 'Authorization: Bearer <key>', or as {\"apiKey\": \"...\"}");
    private static readonly ValidateKeyResponse Invalid = new(false, Error: "Invalid API key");
    private static readonly ValidateKeyResponse Revoked = new(false, Error: "API key revoked");
    private static readonly ValidateKeyResponse Expired = new(false, Error: "API key expired");
    private static readonly ValidateKeyResponse Limited = new(false, Error: "Rate limit exceeded");
    private static readonly ValidateKeyResponse SourceLimited = new(false, Error: "Too many failed validations", Details: "This source sent too many invalid keys; retry later");
    private static readonly ValidateKeyResponse BadTokens = new(false, Error: "Invalid request format", Details: "Field 'tokens' must be a non-negative integer");

    public static IEndpointRouteBuilder MapKeyValidationApi(this IEndpointRouteBuilder app)
    {
        // Resolved once: the hot path does no service lookups.
        var throttle = app.ServiceProvider.GetRequiredService<SourceThrottle>();
        var keys = app.ServiceProvider.GetRequiredService<KeyValidationBatcher>();
        RequestDelegate validate = context => Validate(context, throttle, keys);
        app.MapPost(Path, validate).AllowAnonymous().WithMetadata(ShortcutMarker.Instance);
        // Envoy's HTTP external authorization appends the original request path to the configured path.
        app.MapPost(Path + "/{**forwardedPath}", validate).AllowAnonymous().WithMetadata(ShortcutMarker.Instance);
        return app;
    }

    /// <summary>Answers key validations ahead of routing and of the middlewares after it: a validation is anonymous,
    /// exempt from the caller limit and never a WebSocket, so authentication (a request scope, a JwtBearer handler,
    /// an empty identity), the caller limit, authorization and the WebSocket check would only cost it, and routing
    /// would give every forwarded validation a route-values dictionary that nothing reads. Place it after the
    /// exception handler (a cluster failure is a 503 like anywhere else) and before <c>UseRouting</c>. The request is
    /// still tagged with its mapped endpoint, so the framework's request metrics report its route; other methods go
    /// on to routing (and its 405).</summary>
    public static IApplicationBuilder UseKeyValidationShortcut(this IApplicationBuilder app)
    {
        var services = app.ApplicationServices;
        ValidationEndpoints? endpoints = null; // the mapped endpoints exist once the app has been built
        return app.Use(next => context =>
        {
            var request = context.Request;
            if (!HttpMethods.IsPost(request.Method) || !request.Path.StartsWithSegments(Path, StringComparison.OrdinalIgnoreCase, out var forwardedPath))
            {
                return next(context);
            }
            endpoints ??= ValidationEndpoints.From(services.GetRequiredService<EndpointDataSource>());
            var endpoint = forwardedPath.HasValue ? endpoints.Forwarded : endpoints.Direct;
            context.SetEndpoint(endpoint);
            return endpoint.RequestDelegate!(context);
        });
    }

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

    private static async Task Validate(HttpContext context, SourceThrottle throttle, KeyValidationBatcher keys)
    {
        var source = throttle.Source(context);
        var retry = throttle.RetryAfter(source, out var failuresLeft);
        if (retry > 0)
        {
            await Answer(context, StatusCodes.Status429TooManyRequests, SourceLimited, throttle.Limit, 0, retry, retry, "failures");
            return;
        }

        var request = context.Request;
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
            await Answer(context, StatusCodes.Status400BadRequest, BadTokens, throttle.Limit, failuresLeft, 0, 0, "failures");
            return;
        }
        if (request.ContentLength is > 0 || (request.ContentLength is null && request.Headers.TransferEncoding.Count > 0))
        {
            var (body, bad) = await ReadBody(request);
            if (bad is { } error)
            {
                await Answer(context, StatusCodes.Status400BadRequest, error, throttle.Limit, failuresLeft, 0, 0, "failures");
                return;
            }
            key ??= body?.ApiKey;
            if (body?.Tokens is { } t)
            {
                if (t < 0)
                {
                    await Answer(context, StatusCodes.Status400BadRequest, BadTokens, throttle.Limit, failuresLeft, 0, 0, "failures");
                    return;
                }
                tokens = t;
            }
        }

        if (key is null || !ApiKeys.HasKeyShape(key))
        {
            throttle.Failed(source);
            await Answer(context, StatusCodes.Status401Unauthorized, key is null ? Missing : Invalid, throttle.Limit, Math.Max(0, failuresLeft - 1), 0, 0, "failures");
            return;
        }

        var check = await Decide(keys, key, tokens);
        switch (check.Outcome)
        {
            case KeyOutcome.Valid:
                context.Response.Headers["X-Tenant"] = check.Tenant;
                context.Response.Headers["X-Model"] = check.Model;
                await Answer(context, StatusCodes.Status200OK, new ValidateKeyResponse(true, check.Tenant, check.Model), check);
                return;
            case KeyOutcome.Limited:
                await Answer(context, StatusCodes.Status429TooManyRequests, Limited with { Details = $"Limit '{check.LimitedBy}' reached" }, check, check.RetryAfterSeconds);
                return;
            default:
                throttle.Failed(source);
                var answer = check.Outcome switch
                {
                    KeyOutcome.Revoked => Revoked,
                    KeyOutcome.Expired => Expired,
                    _ => Invalid,
                };
                await Answer(context, StatusCodes.Status401Unauthorized, answer, throttle.Limit, Math.Max(0, failuresLeft - 1), 0, 0, "failures");
                return;
        }
    }

    /// <summary>Decided here when the key's activation is in this process, else by its grain; a key with a wrong
    /// checksum is unknown without touching a grain. The checksum (a second SHA-256) is only computed when the key is
    /// not here: a hash that an activation here holds belongs to an issued key, whose checksum is good.</summary>
    private static ValueTask<KeyCheck> Decide(KeyValidationBatcher keys, string key, long tokens)
    {
        Span<char> hash = stackalloc char[ApiKeys.HashLength];
        ApiKeys.Hash(key, hash);
        if (keys.TryValidateHere(hash, tokens, out var check))
        {
            return ValueTask.FromResult(check);
        }
        return ApiKeys.HasValidChecksum(key) ? new(keys.ValidateAsync(new string(hash), tokens)) : ValueTask.FromResult(KeyCheck.Unknown);
    }

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
        long.TryParse(header[0], NumberStyles.None, CultureInfo.InvariantCulture, out tokens);

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
        var policy = PolicyTexts.For(limit, hourLimit, policyName);
        var remainingText = remaining.ToString(CultureInfo.InvariantCulture);
        var resetText = reset.ToString(CultureInfo.InvariantCulture);
        headers["X-RateLimit-Limit"] = policy.Limit;
        headers["X-RateLimit-Remaining"] = remainingText;
        headers["X-RateLimit-Reset"] = resetText;
        headers["RateLimit"] = $"limit={policy.Limit}, remaining={remainingText}, reset={resetText}";
        headers["RateLimit-Policy"] = policy.Policy;
        if (retryAfter > 0)
        {
            headers.RetryAfter = retryAfter.ToString(CultureInfo.InvariantCulture);
        }
        headers.CacheControl = "no-store";
        // Serialized ahead so the answer goes out with a Content-Length: one send for headers and body. Streamed
        // (WriteAsJsonAsync) it would be chunked, and the closing chunk a second send and a second wake-up of the
        // gateway on every validation.
        var json = AnswerBuffer.Serialize(body);
        response.ContentType = "application/json; charset=utf-8";
        response.ContentLength = json.Length;
        // One write, not Write + Flush: Kestrel puts the headers and a first write straight into the connection's
        // output; data written ahead of the headers it would stage in a pooled block first.
        var written = response.BodyWriter.WriteAsync(json, context.RequestAborted);
        if (written.IsCompletedSuccessfully)
        {
            return ValueTask.CompletedTask;
        }
        AnswerBuffer.GiveUp();
        return new ValueTask(written.AsTask());
    }

    /// <summary>The header texts that follow from the limits alone, kept per distinct limits instead of formatted
    /// on every answer.</summary>
    private sealed record PolicyTexts(string Limit, string Policy)
    {
        /// <summary>Bound on the limits kept: publishers choose them; past it, texts are formatted per answer.</summary>
        private const int KeptLimit = 1024;

        private static readonly ConcurrentDictionary<(int Limit, int HourLimit, string? Name), PolicyTexts> Kept = new();

        public static PolicyTexts For(int limit, int hourLimit, string? name)
        {
            if (Kept.TryGetValue((limit, hourLimit, name), out var texts))
            {
                return texts;
            }
            var limitText = limit.ToString(CultureInfo.InvariantCulture);
            texts = new(limitText, name is not null ? $"{limitText};w=60;comment=\"{name}\""
                : hourLimit > 0 ? $"{limitText};w=60, {hourLimit.ToString(CultureInfo.InvariantCulture)};w=3600" : $"{limitText};w=60");
            if (Kept.Count < KeptLimit)
            {
                Kept.TryAdd((limit, hourLimit, name), texts);
            }
            return texts;
        }
    }

    /// <summary>A buffer and JSON writer per thread, reused for every answer: an answer is serialized and written to
    /// the response before anything else can run on the thread. A write that does not complete at once may still
    /// read the buffer, so the thread then gives it up to that write and makes a new one.</summary>
    private sealed class AnswerBuffer
    {
        [ThreadStatic]
        private static AnswerBuffer? t_current;

        private readonly ArrayBufferWriter<byte> _buffer = new(256);
        private readonly Utf8JsonWriter _writer;

        private AnswerBuffer() => _writer = new Utf8JsonWriter(_buffer);

        public static ReadOnlyMemory<byte> Serialize(in ValidateKeyResponse body)
        {
            var current = t_current ??= new AnswerBuffer();
            current._buffer.ResetWrittenCount();
            current._writer.Reset();
            JsonSerializer.Serialize(current._writer, body, KeyJson.Default.ValidateKeyResponse);
            return current._buffer.WrittenMemory;
        }

        public static void GiveUp() => t_current = null;
    }
}
