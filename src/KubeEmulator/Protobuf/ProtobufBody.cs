using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Google.Protobuf;
using KubeEmulator.Json;

namespace KubeEmulator.Protobuf;

/// <summary>Reads a request body in Kubernetes' protobuf form (<c>application/vnd.kubernetes.protobuf</c>): the
/// <c>k8s\0</c> magic, a <c>runtime.Unknown</c> envelope naming apiVersion and kind, and the object's message, turned
/// into the JSON object the apiserver would have read. Typed clients (kubectl's generators such as
/// <c>kubectl create namespace</c>, client-go clientsets) write built-in kinds this way.</summary>
internal static class ProtobufBody
{
    public const string ContentType = "application/vnd.kubernetes.protobuf";

    private static ReadOnlySpan<byte> Magic => "k8s\0"u8;

    private const string Meta = "k8s.io.apimachinery.pkg.apis.meta.v1.";

    // Deeper than any served kind nests: the embedded messages do not contain themselves today, and this keeps a body
    // from exhausting the stack should a recursive one be added.
    private const int MaxDepth = 64;

    /// <summary>The object, or null when the body names a kind that has no protobuf form here (custom resources,
    /// as on a real apiserver). Throws <see cref="FormatException"/> for a body that is not valid protobuf.</summary>
    public static JsonObject? Read(ReadOnlySpan<byte> body, ProtoSchema schema)
    {
        if (!body.StartsWith(Magic)) throw new FormatException("the protobuf body does not start with the Kubernetes magic number");
        string? apiVersion = null, kind = null, contentType = null;
        var raw = ByteString.Empty;
        var envelope = new CodedInputStream(body[Magic.Length..].ToArray());
        for (uint tag; (tag = envelope.ReadTag()) != 0;)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1 when WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited:
                    var typeMeta = new CodedInputStream(envelope.ReadBytes().ToByteArray());
                    for (uint t; (t = typeMeta.ReadTag()) != 0;)
                    {
                        if (WireFormat.GetTagFieldNumber(t) == 1 && WireFormat.GetTagWireType(t) == WireFormat.WireType.LengthDelimited) apiVersion = typeMeta.ReadString();
                        else if (WireFormat.GetTagFieldNumber(t) == 2 && WireFormat.GetTagWireType(t) == WireFormat.WireType.LengthDelimited) kind = typeMeta.ReadString();
                        else typeMeta.SkipLastField();
                    }
                    break;
                case 2 when WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited:
                    raw = envelope.ReadBytes();
                    break;
                case 4 when WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited:
                    contentType = envelope.ReadString();
                    break;
                default:
                    envelope.SkipLastField();
                    break;
            }
        }
        if (string.IsNullOrEmpty(apiVersion) || string.IsNullOrEmpty(kind)) throw new FormatException("the protobuf envelope names no apiVersion and kind");
        if (!string.IsNullOrEmpty(contentType) && contentType != ContentType) throw new FormatException($"the protobuf envelope holds {contentType}");
        if (schema.ForKind(apiVersion, kind) is not { } message) return null;
        var obj = new JsonObject { ["apiVersion"] = apiVersion, ["kind"] = kind };
        var fields = Message(raw.Span, message, schema, 0);
        foreach (var (name, value) in fields.ToList())
        {
            fields.Remove(name);
            obj[name] = value;
        }
        return obj;
    }

    private static JsonObject Message(ReadOnlySpan<byte> bytes, ProtoMessage message, ProtoSchema schema, int depth)
    {
        if (depth > MaxDepth) throw new FormatException("the protobuf body nests too deeply");
        var obj = new JsonObject();
        var input = new CodedInputStream(bytes.ToArray());
        for (uint tag; (tag = input.ReadTag()) != 0;)
        {
            if (!message.Fields.TryGetValue(WireFormat.GetTagFieldNumber(tag), out var field))
            {
                input.SkipLastField(); // a field of a newer release: dropped, as the apiserver's decoder does
                continue;
            }
            var wire = WireFormat.GetTagWireType(tag);
            if (field.Inline)
            {
                var embedded = Message(Delimited(input, wire, field), schema.Find(field.Type) ?? throw new FormatException($"the protobuf message {field.Type} is not known"), schema, depth + 1);
                foreach (var (name, value) in embedded.ToList())
                {
                    embedded.Remove(name);
                    obj[name] = value;
                }
            }
            else if (field.IsMap)
            {
                var (key, value) = MapEntry(Delimited(input, wire, field), field, schema, depth);
                var map = obj[field.Name] as JsonObject ?? (JsonObject)(obj[field.Name] = new JsonObject());
                map[key] = value;
            }
            else if (field.Repeated)
            {
                var list = obj[field.Name] as JsonArray ?? (JsonArray)(obj[field.Name] = new JsonArray());
                if (wire == WireFormat.WireType.LengthDelimited && ProtoSchema.IsScalar(field.Type) && field.Type is not ("string" or "bytes"))
                {
                    // A packed list of numbers.
                    var packed = new CodedInputStream(input.ReadBytes().ToByteArray());
                    while (!packed.IsAtEnd) list.Add(Scalar(packed, field.Type));
                }
                else list.Add(Value(input, wire, field, schema, depth, inList: true));
            }
            else if (Value(input, wire, field, schema, depth, inList: false) is { } value) obj[field.Name] = value;
            else obj.Remove(field.Name);
        }
        return obj;
    }

    /// <summary>A map entry (key 1, value 2); the value of a map of messages may be absent (an empty message).</summary>
    private static (string Key, JsonNode? Value) MapEntry(ReadOnlySpan<byte> bytes, ProtoField field, ProtoSchema schema, int depth)
    {
        var input = new CodedInputStream(bytes.ToArray());
        string key = "";
        JsonNode? value = null;
        var valueField = field with { Name = "value", Repeated = false, MapKey = null };
        for (uint tag; (tag = input.ReadTag()) != 0;)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1:
                    key = Scalar(input, field.MapKey!)?.ToString() ?? "";
                    break;
                case 2:
                    value = Value(input, WireFormat.GetTagWireType(tag), valueField, schema, depth, inList: true);
                    break;
                default:
                    input.SkipLastField();
                    break;
            }
        }
        if (value is null)
        {
            // The zero value was left out of the entry.
            value = field.Type switch
            {
                "string" or "bytes" => "",
                "bool" => false,
                _ when ProtoSchema.IsScalar(field.Type) => 0,
                _ => Special(ReadOnlySpan<byte>.Empty, field.Type, schema, depth + 1),
            };
        }
        return (key, value);
    }

    /// <summary>A field's value as JSON; null for the zero value of a singular scalar that is not a pointer in Go, and
    /// for the zero time: Go's JSON leaves those out (the protobuf form writes them), so a typed client's body reads as
    /// its JSON would.</summary>
    private static JsonNode? Value(CodedInputStream input, WireFormat.WireType wire, ProtoField field, ProtoSchema schema, int depth, bool inList)
    {
        if (!ProtoSchema.IsScalar(field.Type)) return Special(Delimited(input, wire, field), field.Type, schema, depth + 1);
        if ((field.Type is "string" or "bytes") != (wire == WireFormat.WireType.LengthDelimited)) throw Mismatch(field);
        var value = Scalar(input, field.Type);
        return inList || field.Pointer || !IsZero(value!) ? value : null;
    }

    private static bool IsZero(JsonNode value) => value.GetValueKind() switch
    {
        System.Text.Json.JsonValueKind.String => value.GetValue<string>().Length == 0,
        System.Text.Json.JsonValueKind.False => true,
        System.Text.Json.JsonValueKind.Number => value.ToJsonString() is "0" or "0.0" or "-0" or "-0.0",
        _ => false,
    };

    private static ReadOnlySpan<byte> Delimited(CodedInputStream input, WireFormat.WireType wire, ProtoField field) =>
        wire == WireFormat.WireType.LengthDelimited ? input.ReadBytes().Span : throw Mismatch(field);

    private static FormatException Mismatch(ProtoField field) => new($"the protobuf field {field.Name} ({field.Number}) has the wrong wire type");

    private static JsonNode? Scalar(CodedInputStream input, string type) => type switch
    {
        "string" => JsonValue.Create(input.ReadString()),
        "bytes" => JsonValue.Create(input.ReadBytes().ToBase64()),
        "bool" => JsonValue.Create(input.ReadBool()),
        "int32" => JsonValue.Create(input.ReadInt32()),
        "int64" => JsonValue.Create(input.ReadInt64()),
        "uint32" => JsonValue.Create(input.ReadUInt32()),
        "uint64" => JsonValue.Create(input.ReadUInt64()),
        "sint32" => JsonValue.Create(input.ReadSInt32()),
        "sint64" => JsonValue.Create(input.ReadSInt64()),
        "double" => JsonValue.Create(input.ReadDouble()),
        "float" => JsonValue.Create(input.ReadFloat()),
        "fixed32" => JsonValue.Create(input.ReadFixed32()),
        "fixed64" => JsonValue.Create(input.ReadFixed64()),
        "sfixed32" => JsonValue.Create(input.ReadSFixed32()),
        "sfixed64" => JsonValue.Create(input.ReadSFixed64()),
        _ => throw new FormatException($"the protobuf type {type} is not known"),
    };

    /// <summary>A message as JSON: the types whose JSON form is not an object of their fields (times, durations,
    /// quantities, int-or-string, embedded raw JSON, string lists), then every other message.</summary>
    private static JsonNode? Special(ReadOnlySpan<byte> bytes, string type, ProtoSchema schema, int depth)
    {
        switch (type)
        {
            case Meta + "Time":
            case Meta + "MicroTime":
            {
                var fields = Fields(bytes);
                if (fields.Count == 0) return null; // the zero time
                var at = DateTimeOffset.FromUnixTimeSeconds(fields.GetValueOrDefault(1)).AddTicks(fields.GetValueOrDefault(2) / 100);
                return type.EndsWith("MicroTime", StringComparison.Ordinal)
                    ? at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture)
                    : at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
            }
            case Meta + "Duration":
                return GoDuration(Fields(bytes).GetValueOrDefault(1));
            case "k8s.io.apimachinery.pkg.api.resource.Quantity":
            case "k8s.io.apimachinery.pkg.api.resource.QuantityValue":
                return StringField(bytes, 1) ?? "0";
            case "k8s.io.apimachinery.pkg.util.intstr.IntOrString":
            {
                var fields = Fields(bytes);
                return fields.GetValueOrDefault(1) == 1 ? StringField(bytes, 3) ?? "" : JsonValue.Create((int)fields.GetValueOrDefault(2));
            }
            case "k8s.io.apimachinery.pkg.runtime.RawExtension":
            case Meta + "FieldsV1":
                return RawJson(BytesField(bytes, 1));
        }
        var message = schema.Find(type) ?? throw new FormatException($"the protobuf message {type} is not known");
        var obj = Message(bytes, message, schema, depth);
        // A list wrapper (a Go named []string such as meta/v1's Verbs): its JSON is the list itself.
        if (message.Fields.Count == 1 && message.Fields.TryGetValue(1, out var only) && only is { Name: "items", Repeated: true })
            return obj["items"]?.DeepClone() ?? new JsonArray();
        return obj;
    }

    private static JsonNode? RawJson(byte[]? raw)
    {
        if (raw is null || raw.Length == 0) return null;
        try
        {
            return JsonTree.ParseMaterialized(Encoding.UTF8.GetString(raw));
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new FormatException($"an embedded object is not JSON: {e.Message}");
        }
    }

    /// <summary>The varint fields of a small message (times, durations, int-or-string), by number.</summary>
    private static Dictionary<int, long> Fields(ReadOnlySpan<byte> bytes)
    {
        var fields = new Dictionary<int, long>();
        var input = new CodedInputStream(bytes.ToArray());
        for (uint tag; (tag = input.ReadTag()) != 0;)
        {
            if (WireFormat.GetTagWireType(tag) == WireFormat.WireType.Varint) fields[WireFormat.GetTagFieldNumber(tag)] = input.ReadInt64();
            else input.SkipLastField();
        }
        return fields;
    }

    private static string? StringField(ReadOnlySpan<byte> bytes, int number) => BytesField(bytes, number) is { } b ? Encoding.UTF8.GetString(b) : null;

    private static byte[]? BytesField(ReadOnlySpan<byte> bytes, int number)
    {
        byte[]? found = null;
        var input = new CodedInputStream(bytes.ToArray());
        for (uint tag; (tag = input.ReadTag()) != 0;)
        {
            if (WireFormat.GetTagFieldNumber(tag) == number && WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited) found = input.ReadBytes().ToByteArray();
            else input.SkipLastField();
        }
        return found;
    }

    /// <summary>Nanoseconds as Go's <c>time.Duration</c> prints them (<c>1h2m3.5s</c>, <c>250ms</c>), the JSON form
    /// of meta/v1 Duration.</summary>
    internal static string GoDuration(long nanoseconds)
    {
        if (nanoseconds == 0) return "0s";
        var sign = nanoseconds < 0 ? "-" : "";
        var n = nanoseconds == long.MinValue ? (ulong)long.MaxValue + 1 : (ulong)Math.Abs(nanoseconds);
        if (n < 1_000_000_000)
        {
            var (unit, size) = n < 1_000 ? ("ns", 1UL) : n < 1_000_000 ? ("µs", 1_000UL) : ("ms", 1_000_000UL);
            return sign + Decimal(n, size) + unit;
        }
        var hours = n / 3_600_000_000_000;
        var minutes = n / 60_000_000_000 % 60;
        var text = new StringBuilder(sign);
        if (hours > 0) text.Append(hours.ToString(CultureInfo.InvariantCulture)).Append('h');
        if (hours > 0 || minutes > 0) text.Append(minutes.ToString(CultureInfo.InvariantCulture)).Append('m');
        return text.Append(Decimal(n % 60_000_000_000, 1_000_000_000)).Append('s').ToString();
    }

    private static string Decimal(ulong value, ulong unit)
    {
        var whole = (value / unit).ToString(CultureInfo.InvariantCulture);
        var fraction = value % unit;
        if (fraction == 0) return whole;
        var digits = unit.ToString(CultureInfo.InvariantCulture).Length - 1;
        return whole + "." + fraction.ToString(CultureInfo.InvariantCulture).PadLeft(digits, '0').TrimEnd('0');
    }
}
