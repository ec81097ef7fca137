using Inference.Grains.Abstractions;

namespace Inference.ApiHost.Http;

public static class ApiResults
{
    public static IResult Error(int status, string error, string? details = null) =>
        Results.Json(new ErrorBody(error, details), ApiJson.Options, statusCode: status);

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
}
