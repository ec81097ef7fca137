using System.Net.Http.Headers;
using System.Text.Json;
using Inference.ApiHost.Auth;
using Inference.ApiHost.Http;
using Inference.Grains.Abstractions;
using Inference.Grains.Abstractions.Models;
using Inference.Grains.Models;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Inference.ApiHost.Predict;

/// <summary><c>POST /api/models/{name}/predict</c>: forwards <c>inputData</c> to the model with the KServe v1
/// protocol and returns the model's answer as is.</summary>
public static class PredictApi
{
    public const string ClientName = "predict";

    public static IServiceCollection AddPredictProxy(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<PredictOptions>().Bind(configuration.GetSection(PredictOptions.Section));
        services.AddHttpClient(ClientName, c => c.Timeout = System.Threading.Timeout.InfiniteTimeSpan)
            // A redirect could lead anywhere; the target is decided here, not by the upstream.
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false });
        return services;
    }

    public static IEndpointRouteBuilder MapPredictApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/models/{name}/predict", Predict).RequireAuthorization();
        return app;
    }

    private static async Task<IResult> Predict(HttpContext context, IGrainFactory grains, IHttpClientFactory clients,
        IOptions<PredictOptions> options, ILoggerFactory loggers, string name, [FromQuery(Name = "namespace")] string? ns)
    {
        var settings = options.Value;
        var (request, bodyError) = await JsonBody.ReadAsync<PredictRequest>(context.Request, settings.MaxRequestBytes);
        if (bodyError is not null)
        {
            return bodyError;
        }
        if (request!.InputData is not { ValueKind: JsonValueKind.Object } input)
        {
            return ApiResults.Invalid("Field 'inputData' is required and must be a JSON object");
        }
        if (ModelRules.CheckName(name) is { } nameError)
        {
            return ApiResults.Error(nameError);
        }
        var caller = Caller.From(context.User);
        var custom = request.ConnectionSettings is { UseCustom: true } c ? c : null;
        if (custom is not null && !caller.IsAdmin)
        {
            return ApiResults.Error(StatusCodes.Status403Forbidden, "Insufficient permissions",
                "Custom connection settings are for admins only");
        }
        var (tenant, scopeError) = await TenantScope.ResolveModelAsync(caller, ns ?? request.Namespace, name, grains);
        if (scopeError is not null)
        {
            return scopeError;
        }
        var found = await grains.GetGrain<IModelGrain>(GrainKeys.Scoped(tenant!, name)).GetAsync();
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
        using var message = new HttpRequestMessage(HttpMethod.Post, target)
        {
            Content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(input)),
        };
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
            var (body, tooLarge) = await ReadLimitedAsync(response.Content, settings.MaxResponseBytes, timeout.Token);
            if (tooLarge)
            {
                return ApiResults.Error(StatusCodes.Status502BadGateway, "Model response too large",
                    $"The model answered more than {settings.MaxResponseBytes} bytes");
            }
            if (!response.IsSuccessStatusCode)
            {
                var text = System.Text.Encoding.UTF8.GetString(body);
                if (text.Length > settings.MaxErrorBodyChars)
                {
                    text = text[..settings.MaxErrorBodyChars] + "...";
                }
                logger.LogWarning("Prediction for {Tenant}/{Model} failed upstream with {Status}", tenant, name, (int)response.StatusCode);
                return ApiResults.Error(StatusCodes.Status502BadGateway, "Model returned an error",
                    $"Upstream status {(int)response.StatusCode}: {text}");
            }
            var contentType = response.Content.Headers.ContentType?.ToString() ?? "application/json";
            return Results.Bytes(body, contentType);
        }
        catch (OperationCanceledException) when (!context.RequestAborted.IsCancellationRequested)
        {
            logger.LogWarning("Prediction for {Tenant}/{Model} timed out after {Timeout}", tenant, name, settings.Timeout);
            return ApiResults.Error(StatusCodes.Status504GatewayTimeout, "Model timed out",
                $"No answer within {settings.Timeout.TotalSeconds:0.#} seconds");
        }
        catch (HttpRequestException e)
        {
            logger.LogWarning("Prediction for {Tenant}/{Model} could not reach the model: {Error}", tenant, name, e.Message);
            return ApiResults.Error(StatusCodes.Status502BadGateway, "Model unreachable", e.Message);
        }
    }

    private static async Task<(byte[] Body, bool TooLarge)> ReadLimitedAsync(HttpContent content, int limit, CancellationToken cancel)
    {
        if (content.Headers.ContentLength > limit)
        {
            return ([], true);
        }
        await using var stream = await content.ReadAsStreamAsync(cancel);
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancel)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                return ([], true);
            }
            buffer.Write(chunk, 0, read);
        }
        return (buffer.ToArray(), false);
    }
}
