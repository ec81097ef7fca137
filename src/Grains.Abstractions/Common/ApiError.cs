namespace Inference.Grains.Abstractions;

/// <summary>What went wrong, in terms the API maps to an HTTP status; grains return these instead of throwing
/// for every failure a caller can cause or expect.</summary>
public enum ErrorKind
{
    Invalid,
    NotFound,
    Conflict,
    Forbidden,
    NotReady,
    TooManyRequests,
    Upstream,
    UpstreamTimeout,
    Unavailable,
}

[GenerateSerializer, Immutable, Alias("inference.ApiError")]
public sealed record ApiError(
    [property: Id(0)] ErrorKind Kind,
    [property: Id(1)] string Error,
    [property: Id(2)] string? Details = null);

/// <summary>A grain call's outcome: a value or an <see cref="ApiError"/>.</summary>
[GenerateSerializer, Immutable, Alias("inference.Result`1")]
public sealed record Result<T>([property: Id(0)] T? Value, [property: Id(1)] ApiError? Error)
{
    public bool IsSuccess => Error is null;

    public static Result<T> Ok(T value) => new(value, null);

    public static Result<T> Fail(ApiError error) => new(default, error);

    public static implicit operator Result<T>(ApiError error) => Fail(error);
}
