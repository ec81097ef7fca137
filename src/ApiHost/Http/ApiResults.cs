using Inference.Grains.Abstractions;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Inference.ApiHost.Http;

/// <summary>The one writer of the contract's error body, <c>{error, details}</c>. Handlers return its
/// <see cref="ErrorResult"/>; middleware and framework hooks that have no result to return (JwtBearer challenges, the
/// caller rate limiter, the exception handler) call <see cref="WriteErrorAsync"/>; and everything the framework writes
/// itself (unknown routes, wrong methods, unhandled exceptions) reaches it through the problem-details service
/// (<see cref="ContractProblemDetailsWriter"/>). Key validation alone keeps its own shape and hot path.</summary>
public static class ApiResults
{
    /// <summary>How long a client waits before retrying a 503: the cluster and storage recover in seconds.</summary>
    public const string RetryAfterSeconds = "2";

    /// <summary>Writes an error answer: the contract's shape, and a 503 always says when to retry.</summary>
    public static Task WriteErrorAsync(HttpContext context, int status, string error, string? details = null)
    {
        var response = context.Response;
        response.StatusCode = status;
        if (status == StatusCodes.Status503ServiceUnavailable)
        {
            response.Headers.RetryAfter = RetryAfterSeconds;
        }
        return response.WriteAsJsonAsync(new ErrorBody(error, details), ApiJson.Options, context.RequestAborted);
    }

    public static ErrorResult Error(int status, string error, string? details = null) => new(status, new ErrorBody(error, details));

    public static ErrorResult Unavailable(string details) =>
        Error(StatusCodes.Status503ServiceUnavailable, "Service temporarily unavailable", details + "; retry shortly");

    public static ErrorResult Invalid(string details) =>
        Error(StatusCodes.Status400BadRequest, "Invalid request format", details);

    public static ErrorResult Forbidden(string tenant) =>
        Error(StatusCodes.Status403Forbidden, $"Insufficient permissions for tenant: {tenant}");

    public static ErrorResult NotFound(string error, string? details = null) => Error(StatusCodes.Status404NotFound, error, details);

    public static ErrorResult Error(ApiError error) => Error(StatusOf(error.Kind), error.Error, error.Details);

    /// <summary>A grain's answer as the route's typed result: its success shaped by <paramref name="onSuccess"/>, or
    /// its error.</summary>
    public static Results<TSuccess, ErrorResult> From<T, TSuccess>(Result<T> result, Func<T, TSuccess> onSuccess) where TSuccess : IResult =>
        result.IsSuccess ? onSuccess(result.Value!) : Error(result.Error!);

    /// <summary>The error text for a status the framework set without saying more (an unknown route, a wrong method).</summary>
    public static string DefaultError(int status) => status switch
    {
        StatusCodes.Status400BadRequest => "Invalid request format",
        StatusCodes.Status401Unauthorized => "Authentication required",
        StatusCodes.Status403Forbidden => "Insufficient permissions",
        StatusCodes.Status404NotFound => "Not found",
        StatusCodes.Status405MethodNotAllowed => "Method not allowed",
        StatusCodes.Status429TooManyRequests => "Too many requests",
        StatusCodes.Status500InternalServerError => "Internal server error",
        StatusCodes.Status503ServiceUnavailable => "Service temporarily unavailable",
        _ => "Request failed",
    };

    public static int StatusOf(ErrorKind kind) => kind switch
    {
        ErrorKind.Invalid => StatusCodes.Status400BadRequest,
        ErrorKind.NotFound => StatusCodes.Status404NotFound,
        ErrorKind.Conflict or ErrorKind.NotReady => StatusCodes.Status409Conflict,
        ErrorKind.Forbidden => StatusCodes.Status403Forbidden,
        ErrorKind.TooManyRequests => StatusCodes.Status429TooManyRequests,
        ErrorKind.Upstream => StatusCodes.Status502BadGateway,
        ErrorKind.UpstreamTimeout => StatusCodes.Status504GatewayTimeout,
        ErrorKind.Unavailable => StatusCodes.Status503ServiceUnavailable,
        _ => StatusCodes.Status500InternalServerError,
    };
}

/// <summary>An error answer as a typed result, so handlers can declare it in <c>Results&lt;Ok&lt;T&gt;, ErrorResult&gt;</c>;
/// written by <see cref="ApiResults.WriteErrorAsync"/>.</summary>
public sealed class ErrorResult(int status, ErrorBody body) : IResult, IStatusCodeHttpResult, IValueHttpResult, IValueHttpResult<ErrorBody>, IContentTypeHttpResult
{
    public int StatusCode => status;

    int? IStatusCodeHttpResult.StatusCode => status;

    public ErrorBody Value => body;

    object? IValueHttpResult.Value => body;

    public string ContentType => "application/json";

    public Task ExecuteAsync(HttpContext httpContext) => ApiResults.WriteErrorAsync(httpContext, status, body.Error, body.Details);
}

/// <summary>Plugs the contract's error shape into ASP.NET Core's problem-details service, so what the framework answers
/// by itself (status-code pages, the exception handler's fallback) comes out as <c>{error, details}</c> too.</summary>
public sealed class ContractProblemDetailsWriter : Microsoft.AspNetCore.Http.IProblemDetailsWriter
{
    public bool CanWrite(ProblemDetailsContext context) => true;

    public ValueTask WriteAsync(ProblemDetailsContext context)
    {
        var status = context.ProblemDetails.Status ?? context.HttpContext.Response.StatusCode;
        return new ValueTask(ApiResults.WriteErrorAsync(context.HttpContext, status,
            context.ProblemDetails.Title ?? ApiResults.DefaultError(status), context.ProblemDetails.Detail));
    }
}
