using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Inference.ApiHost.Auth;
using Inference.ApiHost.Http;
using Inference.Grains.Abstractions;
using Inference.Grains.Abstractions.Models;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Inference.Shared.Models;

namespace Inference.ApiHost.Predict;

/// <summary><c>POST /api/models/{name}/predict</c>: forwards <c>inputData</c> to the model with the KServe v1
/// protocol and returns the model's answer as is.</summary>
public static class PredictApi
{
    public const string ClientName = "predict";

    public static IServiceCollection AddPredictProxy(this IServiceCollection services)
    {
        services.AddSettings<PredictOptions>(PredictOptions.Section, o => o.Problem());
        services.AddHttpClient(ClientName, c => c.Timeout = System.Threading.Timeout.InfiniteTimeSpan)
            // A redirect could lead anywhere; the target is decided here, not by the upstream.
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false });
        return services;
    }

    public static IEndpointRouteBuilder MapPredictApi(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/api/models/{name}/predict").RequireAuthorization().WithTenantScope().WithTags("Models")
            .MapPost("", Predict).WithName("Predict")
            .WithSummary("Send inputData to the model (KServe v1) and stream its answer back as it comes")
            .Produces<System.Text.Json.JsonElement>(StatusCodes.Status200OK)
            .ProducesErrors(400, 403, 404, 409, 502, 503, 504);
        return app;
    }

    private static async Task<Results<EmptyHttpResult, ErrorResult>> Predict(HttpContext context, TenantScope scope, PredictBody body,
        IGrainFactory grains, IHttpClientFactory clients, IOptions<PredictOptions> options, ILoggerFactory loggers, string name)
    {
        var settings = options.Value;
        // The body is held once, as it came; inputData is forwarded as a slice of it, never parsed into a document
        // and written out again.
        var request = body.Envelope;
        var input = body.Input;
        var custom = request.ConnectionSettings is { UseCustom: true } c ? c : null;
        if (custom is not null && !scope.Caller.IsAdmin)
        {
            return ApiResults.Error(StatusCodes.Status403Forbidden, "Insufficient permissions",
                "Custom connection settings are for admins only");
        }
        var tenant = scope.Required;
        var found = await grains.GetGrain<IModelGrain>(GrainKeys.Scoped(tenant, name)).GetAsync();
        if (!found.IsSuccess)
        {
            return ApiResults.Error(found.Error!);
        }
        Uri target;
        if (custom is not null)
        {
            var (customTarget, invalid) = custom.Resolve(name);
            if (invalid is not null)
            {
                return ApiResults.Invalid(invalid);
            }
            target = customTarget!;
        }
        else if (found.Value!.Ready && found.Value.Url is { } url)
        {
            target = new Uri(url);
        }
        else
        {
            return ApiResults.Error(StatusCodes.Status409Conflict, "Model is not ready",
                $"Model '{name}' is {found.Value.Phase}; retry when it is Ready");
        }

        var logger = loggers.CreateLogger("Inference.ApiHost.Predict");
        using var message = new HttpRequestMessage(HttpMethod.Post, target) { Content = new SequenceContent(input) };
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        foreach (var (header, value) in custom?.Headers ?? [])
        {
            message.Headers.TryAddWithoutValidation(header, value);
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        timeout.CancelAfter(settings.Timeout);
        try
        {
            using var response = await clients.CreateClient(ClientName)
                .SendAsync(message, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            if (response.Content.Headers.ContentLength > settings.MaxResponseBytes)
            {
                return ResponseTooLarge(settings);
            }
            if (!response.IsSuccessStatusCode)
            {
                var errorBody = await ReadPrefixAsync(response.Content, settings.MaxErrorBodyChars * 4, timeout.Token);
                var text = System.Text.Encoding.UTF8.GetString(errorBody);
                if (text.Length > settings.MaxErrorBodyChars)
                {
                    text = text[..settings.MaxErrorBodyChars] + "...";
                }
                logger.LogWarning("Prediction for {Tenant}/{Model} failed upstream with {Status}", tenant, name, (int)response.StatusCode);
                // The model refusing the input is the caller's to fix; anything else is the model's failure.
                return response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.UnprocessableEntity
                    ? ApiResults.Error(StatusCodes.Status400BadRequest, "Model rejected the input", $"Upstream status {(int)response.StatusCode}: {text}")
                    : ApiResults.Error(StatusCodes.Status502BadGateway, "Model returned an error", $"Upstream status {(int)response.StatusCode}: {text}");
            }
            await CopyAnswerAsync(context, response, settings, logger, timeout.Token);
            return TypedResults.Empty;
        }
        catch (Exception e) when (context.Response.HasStarted && e is OperationCanceledException or HttpRequestException or IOException)
        {
            // Part of the answer is on its way: a status can no longer say what went wrong, a cut connection does.
            logger.LogWarning("Prediction for {Tenant}/{Model} broke off while streaming the answer: {Error}", tenant, name, e.Message);
            context.Abort();
            return TypedResults.Empty;
        }
        catch (OperationCanceledException) when (!context.RequestAborted.IsCancellationRequested)
        {
            logger.LogWarning("Prediction for {Tenant}/{Model} timed out after {Timeout}", tenant, name, settings.Timeout);
            return ApiResults.Error(StatusCodes.Status504GatewayTimeout, "Model timed out",
                $"No answer within {settings.Timeout.TotalSeconds:0.#} seconds");
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            // What failed (addresses, resolver and TLS messages) stays in the log: the caller learns only that it did.
            logger.LogWarning("Prediction for {Tenant}/{Model} could not reach the model: {Error}", tenant, name, e.Message);
            return ApiResults.Error(StatusCodes.Status502BadGateway, "Model unreachable", "The model could not be reached");
        }
    }

    private static ErrorResult ResponseTooLarge(PredictOptions settings) =>
        ApiResults.Error(StatusCodes.Status502BadGateway, "Model response too large",
            $"The model answered more than {settings.MaxResponseBytes} bytes");

    /// <summary>Streams the model's answer to the caller as it arrives, bounded by the response limit. An answer that
    /// announced no length and runs past the limit is cut off (the connection is aborted), since its 200 is sent.</summary>
    private static async Task CopyAnswerAsync(HttpContext context, HttpResponseMessage response, PredictOptions settings,
        ILogger logger, CancellationToken cancel)
    {
        var answer = context.Response;
        answer.StatusCode = StatusCodes.Status200OK;
        answer.ContentType = response.Content.Headers.ContentType?.ToString() ?? "application/json";
        answer.ContentLength = response.Content.Headers.ContentLength;
        // Whatever the model labels its answer, a browser must not guess it into something executable.
        answer.Headers.XContentTypeOptions = "nosniff";
        await using var upstream = await response.Content.ReadAsStreamAsync(cancel);
        var chunk = new byte[16 * 1024];
        long total = 0;
        int read;
        while ((read = await upstream.ReadAsync(chunk, cancel)) > 0)
        {
            total += read;
            if (total > settings.MaxResponseBytes)
            {
                logger.LogWarning("A model's answer ran past {Limit} bytes; cut off", settings.MaxResponseBytes);
                context.Abort();
                return;
            }
            await answer.Body.WriteAsync(chunk.AsMemory(0, read), cancel);
        }
    }

    /// <summary>The first <paramref name="limit"/> bytes of an error answer, all that its quote can use.</summary>
    private static async Task<byte[]> ReadPrefixAsync(HttpContent content, int limit, CancellationToken cancel)
    {
        await using var stream = await content.ReadAsStreamAsync(cancel);
        var buffer = new byte[limit];
        var filled = 0;
        int read;
        while (filled < limit && (read = await stream.ReadAsync(buffer.AsMemory(filled), cancel)) > 0)
        {
            filled += read;
        }
        return buffer[..filled];
    }
}
