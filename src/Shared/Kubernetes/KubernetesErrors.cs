using System.Net;
using System.Text.Json;
using Inference.Grains.Abstractions;
using k8s.Autorest;
using Microsoft.Extensions.Logging;

namespace Inference.Shared.Kubernetes;

/// <summary>A failed call to the API server, already translated into the error the REST API reports.</summary>
public sealed class KubernetesCallException(ApiError error, HttpStatusCode? status, Exception? inner = null)
    : Exception((inner as KubernetesServerMessage)?.Message ?? error.Details ?? error.Error, inner)
{
    public ApiError Error { get; } = error;

    public HttpStatusCode? Status { get; } = status;

    public bool IsNotFound => Status == HttpStatusCode.NotFound;
}

/// <summary>What the API server said, kept for the log when the caller is told less.</summary>
public sealed class KubernetesServerMessage(string message, Exception inner) : Exception(message, inner);

public static class KubernetesErrors
{
    /// <summary>Runs a call against the API server and turns every way it can fail into a <see cref="KubernetesCallException"/>.
    /// What the server says about the caller's own object (invalid, not found, conflict) reaches the caller; what it
    /// says about the service itself (RBAC refusals, server faults, where it lives) reaches only admins
    /// (<paramref name="forAdmins"/>) and the log.</summary>
    public static async Task<T> Call<T>(Func<CancellationToken, Task<T>> call, string failure, TimeSpan timeout,
        ILogger? logger = null, bool forAdmins = false)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            return await call(cts.Token);
        }
        catch (HttpOperationException e)
        {
            var translated = Translate(e, failure, forAdmins);
            if (translated.Error.Kind is ErrorKind.Upstream or ErrorKind.Unavailable)
            {
                logger?.LogWarning("{Failure}: Kubernetes API answered {Status}: {Message}", failure, (int)e.Response.StatusCode, translated.Message);
            }
            throw translated;
        }
        catch (OperationCanceledException e) when (cts.IsCancellationRequested)
        {
            throw new KubernetesCallException(
                new ApiError(ErrorKind.Unavailable, failure, "Kubernetes API did not answer in time"), null, e);
        }
        catch (HttpRequestException e)
        {
            logger?.LogWarning("{Failure}: Kubernetes API unreachable: {Message}", failure, e.Message);
            throw new KubernetesCallException(
                new ApiError(ErrorKind.Unavailable, failure, forAdmins ? $"Kubernetes API unreachable: {e.Message}" : "Kubernetes API unreachable"),
                null, e);
        }
    }

    /// <summary>The exception's message is always the server's own (for logs); the error's details are that message
    /// only where the caller may see it.</summary>
    public static KubernetesCallException Translate(HttpOperationException e, string failure, bool forAdmins = false)
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
        var details = forAdmins || kind is ErrorKind.NotFound or ErrorKind.Conflict or ErrorKind.Invalid
            ? $"Kubernetes API error: {message}"
            : status is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden
                ? "The Kubernetes API refused the service's request; an administrator finds the reason in the service's log"
                : $"The Kubernetes API failed with status {(int)status}; an administrator finds the reason in the service's log";
        return new KubernetesCallException(new ApiError(kind, failure, details), status, new KubernetesServerMessage(message, e));
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
