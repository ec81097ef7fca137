using System.Buffers;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;

namespace Inference.ApiHost.Http;

/// <summary>Reads a JSON request body with a size limit, turning every way it can be wrong into the contract's
/// 400 instead of the framework's own error pages.</summary>
public static class JsonBody
{
    public const int DefaultLimit = 64 * 1024;

    public static async Task<(T? Value, ErrorResult? Error)> ReadAsync<T>(HttpRequest request, int limit = DefaultLimit)
        where T : class
    {
        if (Refuse(request, limit) is { } refused)
        {
            return (null, refused);
        }
        try
        {
            var value = await JsonSerializer.DeserializeAsync<T>(request.Body, ApiJson.Options, request.HttpContext.RequestAborted);
            if (value is null)
            {
                return (null, ApiResults.Invalid("Request body must be a JSON object"));
            }
            return NullInside(value, ApiJson.Options.GetTypeInfo(typeof(T)), "") is { } path
                ? (null, ApiResults.Invalid($"Field '{path}' must not be null"))
                : (value, null);
        }
        catch (JsonException e)
        {
            return (null, Invalid(e));
        }
        catch (BadHttpRequestException e)
        {
            return (null, Unreadable(e, limit));
        }
    }

    /// <summary>The body as it came, held once (in the pieces it arrived in, never copied to grow), for a handler that
    /// forwards part of it as is; the same limits and errors as <see cref="ReadAsync{T}"/>.</summary>
    public static async Task<(ReadOnlySequence<byte> Body, ErrorResult? Error)> ReadRawAsync(HttpRequest request, int limit)
    {
        if (Refuse(request, limit) is { } refused)
        {
            return (default, refused);
        }
        try
        {
            var pieces = new BodyPieces();
            var size = (int)Math.Min(request.ContentLength ?? 64 * 1024, limit);
            while (true)
            {
                var piece = new byte[Math.Max(size, 1)];
                var filled = 0;
                int read;
                while (filled < piece.Length && (read = await request.Body.ReadAsync(piece.AsMemory(filled), request.HttpContext.RequestAborted)) > 0)
                {
                    filled += read;
                }
                pieces.Add(piece.AsMemory(0, filled));
                if (pieces.Length > limit)
                {
                    return (default, TooLarge(limit));
                }
                if (filled < piece.Length || pieces.Length == request.ContentLength)
                {
                    return (pieces.Sequence(), null);
                }
                size = 64 * 1024;
            }
        }
        catch (BadHttpRequestException e)
        {
            return (default, Unreadable(e, limit));
        }
    }

    public static ErrorResult Invalid(JsonException e) => ApiResults.Invalid(Describe(e));

    private static ErrorResult? Refuse(HttpRequest request, int limit)
    {
        if (request.ContentLength > limit)
        {
            return TooLarge(limit);
        }
        if (request.ContentType is { } type && !type.Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            return ApiResults.Invalid("Content-Type must be application/json");
        }
        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
        {
            size.MaxRequestBodySize = limit;
        }
        return null;
    }

    private static ErrorResult Unreadable(BadHttpRequestException e, int limit) =>
        e.StatusCode == StatusCodes.Status413PayloadTooLarge
            ? TooLarge(limit)
            // A body shorter than its Content-Length, a broken chunked encoding.
            : ApiResults.Error(e.StatusCode, "Invalid request format", "Request body could not be read: " + e.Message);

    /// <summary>Pieces of a body chained into one sequence without copying them together.</summary>
    private sealed class BodyPieces
    {
        private Piece? _first;
        private Piece? _last;

        public long Length { get; private set; }

        public void Add(ReadOnlyMemory<byte> memory)
        {
            var piece = new Piece(memory, Length);
            if (_last is null)
            {
                _first = piece;
            }
            else
            {
                _last.Append(piece);
            }
            _last = piece;
            Length += memory.Length;
        }

        public ReadOnlySequence<byte> Sequence() =>
            _first is null ? ReadOnlySequence<byte>.Empty : new ReadOnlySequence<byte>(_first, 0, _last!, _last!.Memory.Length);

        private sealed class Piece : ReadOnlySequenceSegment<byte>
        {
            public Piece(ReadOnlyMemory<byte> memory, long runningIndex)
            {
                Memory = memory;
                RunningIndex = runningIndex;
            }

            public void Append(Piece next) => Next = next;
        }
    }

    /// <summary>The path of the first null inside a list or a map of the request, or null when there is none.
    /// A null field means "not given", which every contract type allows; a null element of a list or value of a map
    /// means nothing, and the serializer lets it through whatever the element type's nullability says.</summary>
    private static string? NullInside(object value, System.Text.Json.Serialization.Metadata.JsonTypeInfo info, string path)
    {
        switch (info.Kind)
        {
            case System.Text.Json.Serialization.Metadata.JsonTypeInfoKind.Object:
                foreach (var property in info.Properties)
                {
                    if (property.Get?.Invoke(value) is { } child
                        && NullInside(child, ApiJson.Options.GetTypeInfo(property.PropertyType), Join(path, property.Name)) is { } found)
                    {
                        return found;
                    }
                }
                return null;
            case System.Text.Json.Serialization.Metadata.JsonTypeInfoKind.Dictionary when value is System.Collections.IDictionary map:
                foreach (System.Collections.DictionaryEntry entry in map)
                {
                    var at = Join(path, entry.Key.ToString() ?? "");
                    if (entry.Value is null)
                    {
                        return at;
                    }
                    if (NullInside(entry.Value, ApiJson.Options.GetTypeInfo(info.ElementType!), at) is { } found)
                    {
                        return found;
                    }
                }
                return null;
            case System.Text.Json.Serialization.Metadata.JsonTypeInfoKind.Enumerable when value is System.Collections.IEnumerable list:
                var index = 0;
                foreach (var element in list)
                {
                    var at = $"{path}[{index++}]";
                    if (element is null)
                    {
                        return at;
                    }
                    if (NullInside(element, ApiJson.Options.GetTypeInfo(info.ElementType!), at) is { } found)
                    {
                        return found;
                    }
                }
                return null;
            default:
                // Values, and free-form JSON (a prediction's input) whose nulls are the caller's data.
                return null;
        }
    }

    private static string Join(string path, string name) => path.Length == 0 ? name : $"{path}.{name}";

    private static ErrorResult TooLarge(int limit) => ApiResults.Invalid($"Request body exceeds {limit} bytes");

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
