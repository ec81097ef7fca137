using System.Net;
using System.Text.Json;
using Inference.Grains.Abstractions;
using k8s.Autorest;

namespace Inference.Grains.Kubernetes;

/// <summary>A failed call to the API server, already translated into the error the REST API reports.</summary>
public sealed class KubernetesCallException(ApiError error, HttpStatusCode? status, Exception? inner = null)
    : Exception(error.Details ?? error.Error, inner)
{
    public ApiError Error { get; } = error;

    public HttpStatusCode? Status { get; } = status;

    public bool IsNotFound => Status == HttpStatusCode.NotFound;
}

public static class KubernetesErrors
{
    /// <summary>Runs a call against the API server and turns every way it can fail into a <see cref="KubernetesCallException"/>.</summary>
    public static async Task<T> Call<T>(Func<CancellationToken, Task<T>> call, string failure, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            return await call(cts.Token);
        }
        catch (HttpOperationException e)
        {
            throw Translate(e, failure);
        }
        catch (OperationCanceledException e) when (cts.IsCancellationRequested)
        {
            throw new KubernetesCallException(
                new ApiError(ErrorKind.Unavailable, failure, "Kubernetes API did not answer in time"), null, e);
        }
        catch (HttpRequestException e)
        {
            throw new KubernetesCallException(
                new ApiError(ErrorKind.Unavailable, failure, $"Kubernetes API unreachable: {e.Message}"), null, e);
        }
    }

    public static KubernetesCallException Translate(HttpOperationException e, string failure)
    {
        var status = e.Response.StatusCode;
        var message = StatusMessage(e.Response.Content) ?? e.Message;
        var kind = status switch
        {
            HttpStatusCode.NotFound => ErrorKind.NotFound,
            HttpStatusCode.Conflict => ErrorKind.Conflict,
            HttpStatusCode.BadRequest or HttpStatusCode.UnprocessableEntity => ErrorKind.Invalid,
            HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout
                => ErrorKind.Unavailable,
            _ => ErrorKind.Upstream,
        };
        return new KubernetesCallException(new ApiError(kind, failure, $"Kubernetes API error: {message}"), status, e);
    }

    /// <summary>The message of a <c>kind: Status</c> body, when the server sent one.</summary>
    private static string? StatusMessage(string? body)
    {
        if (string.IsNullOrWhiteSpace(body))
        {
            return null;
        }
        try
        {
            using var doc = JsonDocument.Parse(body);
            return doc.RootElement.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String
                ? m.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
