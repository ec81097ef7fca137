using Inference.Grains.Abstractions;

namespace Inference.ApiHost.Http;

public static class ApiResults
{
    /// <summary>How long a client waits before retrying a 503: the cluster and storage recover in seconds.</summary>
    public const string RetryAfterSeconds = "2";

    /// <summary>Every error answer goes through here: the contract's shape, and a 503 always says when to retry.</summary>
    public static IResult Error(int status, string error, string? details = null) =>
        status == StatusCodes.Status503ServiceUnavailable
            ? new RetryAfterResult(Results.Json(new ErrorBody(error, details), ApiJson.Options, statusCode: status))
            : Results.Json(new ErrorBody(error, details), ApiJson.Options, statusCode: status);

    public static IResult Unavailable(string details) =>
        Error(StatusCodes.Status503ServiceUnavailable, "Service temporarily unavailable", details + "; retry shortly");

    public static IResult Invalid(string details) =>
        Error(StatusCodes.Status400BadRequest, "Invalid request format", details);

    public static IResult Forbidden(string tenant) =>
        Error(StatusCodes.Status403Forbidden, $"Insufficient permissions for tenant: {tenant}");

    public static IResult Error(ApiError error) => Error(StatusOf(error.Kind), error.Error, error.Details);

    public static IResult From<T>(Result<T> result, Func<T, IResult> onSuccess) =>
        result.IsSuccess ? onSuccess(result.Value!) : Error(result.Error!);

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

    private sealed class RetryAfterResult(IResult inner) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.Headers.RetryAfter = RetryAfterSeconds;
            return inner.ExecuteAsync(httpContext);
        }
    }
}
