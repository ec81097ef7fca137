using System.Buffers;
using System.Net;
using System.Text.Json;
using Inference.ApiHost.Http;

namespace Inference.ApiHost.Predict;

/// <summary>Body of <c>POST /api/models/{name}/predict</c>: <c>inputData</c> located as a slice of the body (it is
/// forwarded as sent), the small fields read as usual.</summary>
public sealed record PredictEnvelope(ReadOnlySequence<byte>? InputData, ConnectionSettings? ConnectionSettings, string? Namespace)
{
    /// <summary>Reads the top level of the body; throws <see cref="JsonException"/> (with the field's path) for
    /// malformed JSON or a field of the wrong type, as the serializer would.</summary>
    public static PredictEnvelope Read(ReadOnlySequence<byte> body)
    {
        var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = ApiJson.Options.MaxDepth });
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException("Request body must be a JSON object");
        }
        ReadOnlySequence<byte>? input = null;
        ConnectionSettings? settings = null;
        string? ns = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = reader.GetString();
            reader.Read();
            if (string.Equals(name, "inputData", StringComparison.OrdinalIgnoreCase))
            {
                var start = reader.TokenStartIndex;
                var isObject = reader.TokenType == JsonTokenType.StartObject;
                reader.Skip();
                input = isObject ? body.Slice(start, reader.BytesConsumed - start) : null;
            }
            else if (string.Equals(name, "connectionSettings", StringComparison.OrdinalIgnoreCase))
            {
                settings = Field(ref reader, "connectionSettings", (ref Utf8JsonReader r) => JsonSerializer.Deserialize<ConnectionSettings>(ref r, ApiJson.Options));
            }
            else if (string.Equals(name, "namespace", StringComparison.OrdinalIgnoreCase))
            {
                ns = reader.TokenType switch
                {
                    JsonTokenType.String => reader.GetString(),
                    JsonTokenType.Null => null,
                    _ => throw new JsonException(null, "$.namespace", null, null),
                };
            }
            else
            {
                reader.Skip();
            }
        }
        if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
        {
            throw new JsonException("Malformed JSON body");
        }
        return new PredictEnvelope(input, settings, ns);
    }

    private delegate T FieldReader<out T>(ref Utf8JsonReader reader);

    private static T? Field<T>(ref Utf8JsonReader reader, string name, FieldReader<T?> read)
    {
        try
        {
            return read(ref reader);
        }
        catch (JsonException e)
        {
            // The nested path as the serializer reports it for a whole body: $.connectionSettings.port
            throw new JsonException(e.Message, "$." + name + (e.Path is { Length: > 1 } p ? p[1..] : ""), null, null);
        }
    }
}

/// <summary>The body of a prediction as a handler parameter: held once as it came (<see cref="JsonBody.ReadRawAsync"/>),
/// its top level read by <see cref="PredictEnvelope"/>; a failure is kept for the tenant-scope filter to answer first.</summary>
public sealed class PredictBody : IRequestBody, Microsoft.AspNetCore.Http.Metadata.IEndpointParameterMetadataProvider
{
    private readonly PredictEnvelope? _envelope;

    private PredictBody(PredictEnvelope? envelope, ErrorResult? error)
    {
        _envelope = envelope;
        Error = error;
    }

    public PredictEnvelope Envelope => _envelope ?? throw new InvalidOperationException("The prediction body was not read; is the route missing WithTenantScope()?");

    /// <summary>The model's input, a slice of the body.</summary>
    public ReadOnlySequence<byte> Input => Envelope.InputData!.Value;

    public ErrorResult? Error { get; }

    public string? RequestedNamespace => _envelope?.Namespace;

    public ErrorResult? CheckNamespace(string? requested) => null;

    public static async ValueTask<PredictBody?> BindAsync(HttpContext context)
    {
        var settings = context.RequestServices.GetRequiredService<Microsoft.Extensions.Options.IOptions<PredictOptions>>().Value;
        var (body, error) = await JsonBody.ReadRawAsync(context.Request, settings.MaxRequestBytes);
        if (error is not null)
        {
            return new PredictBody(null, error);
        }
        PredictEnvelope envelope;
        try
        {
            envelope = PredictEnvelope.Read(body);
        }
        catch (JsonException e)
        {
            return new PredictBody(null, JsonBody.Invalid(e));
        }
        return envelope.InputData is null
            ? new PredictBody(null, ApiResults.Invalid("Field 'inputData' is required and must be a JSON object"))
            : new PredictBody(envelope, null);
    }

    public static void PopulateMetadata(System.Reflection.ParameterInfo parameter, EndpointBuilder builder) =>
        builder.Metadata.Add(new RequestBodyType(typeof(PredictRequest)));
}

/// <summary>The body of a prediction as documented (OpenAPI): <see cref="InputData"/> goes to the model as sent.</summary>
public sealed record PredictRequest(System.Text.Json.Nodes.JsonObject InputData, ConnectionSettings? ConnectionSettings, string? Namespace);

/// <summary>A request body that is a slice of another body, sent as is.</summary>
public sealed class SequenceContent(ReadOnlySequence<byte> body) : HttpContent
{
    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        foreach (var piece in body)
        {
            await stream.WriteAsync(piece, cancellationToken);
        }
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override bool TryComputeLength(out long length)
    {
        length = body.Length;
        return true;
    }
}

/// <summary>Where to send the prediction instead of the model's own URL; admins only.</summary>
public sealed record ConnectionSettings(
    bool UseCustom, string? Host, int? Port, string? Path, Dictionary<string, string>? Headers, string? Protocol)
{
    private const int MaxHeaders = 20;

    /// <summary>Headers the proxy sets itself or that would change how the request travels.</summary>
    private static readonly HashSet<string> ReservedHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        "Host", "Content-Length", "Content-Type", "Transfer-Encoding", "Connection", "Keep-Alive", "Upgrade",
        "Proxy-Connection", "Proxy-Authorization", "TE", "Trailer", "Expect",
    };

    /// <summary>The target URL, or what is wrong with the settings.</summary>
    public (Uri? Target, string? Error) Resolve(string model)
    {
        var protocol = (Protocol ?? "http").ToLowerInvariant();
        if (protocol is not ("http" or "https"))
        {
            return (null, "Field 'connectionSettings.protocol' must be 'http' or 'https'");
        }
        if (string.IsNullOrWhiteSpace(Host) || Uri.CheckHostName(Host) == UriHostNameType.Unknown)
        {
            return (null, "Field 'connectionSettings.host' must be a host name or IP address");
        }
        if (Port is { } port && port is < 1 or > 65535)
        {
            return (null, "Field 'connectionSettings.port' must be between 1 and 65535");
        }
        var path = Path ?? $"/v1/models/{model}:predict";
        if (!path.StartsWith('/') || path.StartsWith("//", StringComparison.Ordinal) || path.Length > 2048
            || path.Any(c => char.IsControl(c) || c is ' ' or '#' or '\\'))
        {
            return (null, "Field 'connectionSettings.path' must be an absolute path such as /v1/models/name:predict");
        }
        if (Headers is { } headers)
        {
            if (headers.Count > MaxHeaders)
            {
                return (null, $"Field 'connectionSettings.headers' may hold at most {MaxHeaders} headers");
            }
            foreach (var (name, value) in headers)
            {
                if (name.Length is 0 or > 128 || !name.All(IsTokenChar) || ReservedHeaders.Contains(name))
                {
                    return (null, $"Header '{name}' in 'connectionSettings.headers' is not allowed");
                }
                if (value is null || value.Length > 8192 || value.Any(char.IsControl))
                {
                    return (null, $"Header '{name}' in 'connectionSettings.headers' has an invalid value");
                }
            }
        }
        var builder = new UriBuilder(protocol, Host, Port ?? -1) { Path = path[..(path.IndexOf('?') is var q and >= 0 ? q : path.Length)] };
        if (path.IndexOf('?') is var query and >= 0)
        {
            builder.Query = path[(query + 1)..];
        }
        return (builder.Uri, null);
    }

    private static bool IsTokenChar(char c) =>
        char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c);
}
