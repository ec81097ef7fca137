using System.Text.Json;
using System.Text.Json.Serialization;

namespace Inference.ApiHost.Keys;

public sealed record ValidateKeyRequest(string? ApiKey, long? Tokens);

/// <summary>A struct: a validation answers with a fresh one on every external request.</summary>
public readonly record struct ValidateKeyResponse(bool Valid, string? Tenant = null, string? Model = null, string? Error = null, string? Details = null);

/// <summary>Source-generated (de)serialization for the hot path: no reflection, no JSON DOM.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ValidateKeyRequest))]
[JsonSerializable(typeof(ValidateKeyResponse))]
internal sealed partial class KeyJson : JsonSerializerContext;
