using System.Text.Json;
using System.Text.Json.Serialization;

namespace Inference.ApiHost.Http;

public static class ApiJson
{
    public static readonly JsonSerializerOptions Options = Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web));

    public static JsonSerializerOptions Configure(JsonSerializerOptions o)
    {
        o.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
        o.PropertyNamingPolicy = JsonNamingPolicy.CamelCase;
        o.NumberHandling = JsonNumberHandling.Strict;
        o.MaxDepth = 32;
        return o;
    }
}

/// <summary>The contract's error shape.</summary>
public sealed record ErrorBody(string Error, string? Details = null);
