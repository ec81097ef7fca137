using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;

namespace Inference.ApiHost.Http;

/// <summary>Reads a JSON request body with a size limit, turning every way it can be wrong into the contract's
/// 400 instead of the framework's own error pages.</summary>
public static class JsonBody
{
    public const int DefaultLimit = 64 * 1024;

    public static async Task<(T? Value, IResult? Error)> ReadAsync<T>(HttpRequest request, int limit = DefaultLimit)
        where T : class
    {
        if (request.ContentLength > limit)
        {
            return (null, TooLarge(limit));
        }
        if (request.ContentType is { } type && !type.Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            return (null, ApiResults.Invalid("Content-Type must be application/json"));
        }
        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
        {
            size.MaxRequestBodySize = limit;
        }
        try
        {
            var value = await JsonSerializer.DeserializeAsync<T>(request.Body, ApiJson.Options, request.HttpContext.RequestAborted);
            return value is null ? (null, ApiResults.Invalid("Request body must be a JSON object")) : (value, null);
        }
        catch (JsonException e)
        {
            return (null, ApiResults.Invalid(Describe(e)));
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, TooLarge(limit));
        }
    }

    private static IResult TooLarge(int limit) => ApiResults.Invalid($"Request body exceeds {limit} bytes");

    private static string Describe(JsonException e)
    {
        var path = e.Path is { Length: > 2 } p ? p[2..] : null;
        if (path is null)
        {
            return "Malformed JSON body";
        }
        return $"Field '{path}' has an invalid value or type";
    }
}
