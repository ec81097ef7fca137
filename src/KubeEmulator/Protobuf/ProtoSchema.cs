using System.Reflection;
using System.Text.RegularExpressions;

namespace KubeEmulator.Protobuf;

/// <summary>A field of a message in a Kubernetes <c>generated.proto</c>: its JSON name (go-to-protobuf names fields
/// after their JSON tags), its type (a scalar or a fully qualified message), and whether it is a list or a map.</summary>
internal sealed record ProtoField(string Name, int Number, string Type, bool Repeated, string? MapKey)
{
    public bool IsMap => MapKey is not null;

    /// <summary>A pointer in the Go type: its zero value was set by the client and is kept (Spec/go-fields.txt).</summary>
    public bool Pointer { get; init; }

    /// <summary>An embedded Go struct whose JSON is inlined into the parent's (Spec/go-fields.txt).</summary>
    public bool Inline { get; init; }
}

internal sealed record ProtoMessage(string FullName, IReadOnlyDictionary<int, ProtoField> Fields);

/// <summary>The messages of the embedded <c>generated.proto</c> files (the release the OpenAPI document is from): what
/// a protobuf request body is read against. The files use a small part of proto2 (messages of
/// <c>optional</c>/<c>repeated</c>/<c>map</c> fields, no nesting, enums or oneofs), which is all this reads.</summary>
internal sealed partial class ProtoSchema
{
    public const string ResourcePrefix = "KubeEmulator.Protobuf.";

    // Before Embedded: static fields are initialised in order, and loading reads this.
    private static readonly HashSet<string> Scalars = ["string", "bytes", "bool", "int32", "int64", "uint32", "uint64", "sint32", "sint64", "double", "float", "fixed32", "fixed64", "sfixed32", "sfixed64"];

    private readonly Dictionary<string, ProtoMessage> _messages;

    private ProtoSchema(Dictionary<string, ProtoMessage> messages) => _messages = messages;

    public static ProtoSchema Embedded { get; } = Load();

    public IReadOnlyCollection<ProtoMessage> Messages => _messages.Values;

    public ProtoMessage? Find(string fullName) => _messages.GetValueOrDefault(fullName);

    /// <summary>The message of a kind: built-in API groups are packages <c>k8s.io.api.{first label of the group, or
    /// core}.{version}</c>; options kinds (<c>DeleteOptions</c>, ...) are meta/v1's.</summary>
    public ProtoMessage? ForKind(string apiVersion, string kind)
    {
        var slash = apiVersion.IndexOf('/');
        var (group, version) = slash < 0 ? ("", apiVersion) : (apiVersion[..slash], apiVersion[(slash + 1)..]);
        var package = group.Length == 0 ? "core" : group.Split('.')[0];
        return Find($"k8s.io.api.{package}.{version}.{kind}")
            ?? (group is "" or "meta.k8s.io" ? Find($"k8s.io.apimachinery.pkg.apis.meta.v1.{kind}") : null);
    }

    private static ProtoSchema Load()
    {
        var assembly = Assembly.GetExecutingAssembly();
        var messages = new Dictionary<string, ProtoMessage>(StringComparer.Ordinal);
        string Read(string name)
        {
            using var reader = new StreamReader(assembly.GetManifestResourceStream(name)!);
            return reader.ReadToEnd();
        }
        var goFields = Read(ResourcePrefix + "go-fields.txt").Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal) && n.EndsWith(".proto", StringComparison.Ordinal)))
        {
            foreach (var message in Parse(Read(name)))
            {
                var fields = message.Fields.ToDictionary(f => f.Key, f => f.Value with
                {
                    Pointer = goFields.Contains($"pointer {message.FullName}.{f.Value.Name}"),
                    Inline = goFields.Contains($"inline {message.FullName}.{f.Key}"),
                });
                messages.Add(message.FullName, message with { Fields = fields });
            }
        }
        return new ProtoSchema(messages);
    }

    internal static IEnumerable<ProtoMessage> Parse(string text)
    {
        text = Comment().Replace(text, "");
        var package = PackageLine().Match(text) is { Success: true } p ? p.Groups[1].Value : throw new FormatException("a .proto file without a package");
        foreach (Match message in MessageBlock().Matches(text))
        {
            var fields = new Dictionary<int, ProtoField>();
            foreach (Match field in FieldLine().Matches(message.Groups[2].Value))
            {
                var number = int.Parse(field.Groups["number"].Value, System.Globalization.CultureInfo.InvariantCulture);
                var mapKey = field.Groups["key"].Success ? field.Groups["key"].Value : null;
                var type = Qualify(package, mapKey is null ? field.Groups["type"].Value : field.Groups["value"].Value);
                fields.Add(number, new ProtoField(field.Groups["name"].Value, number, type, field.Groups["label"].Value == "repeated", mapKey));
            }
            yield return new ProtoMessage($"{package}.{message.Groups[1].Value}", fields);
        }
    }

    public static bool IsScalar(string type) => Scalars.Contains(type);

    private static string Qualify(string package, string type) =>
        IsScalar(type) ? type : type.StartsWith('.') ? type[1..] : type.Contains('.') ? type : $"{package}.{type}";

    [GeneratedRegex(@"//[^\n]*")]
    private static partial Regex Comment();

    [GeneratedRegex(@"^\s*package\s+([\w.]+)\s*;", RegexOptions.Multiline)]
    private static partial Regex PackageLine();

    [GeneratedRegex(@"\bmessage\s+(\w+)\s*\{([^{}]*)\}")]
    private static partial Regex MessageBlock();

    [GeneratedRegex(@"(?:(?<label>optional|repeated)\s+(?<type>[\w.]+)|map\s*<\s*(?<key>\w+)\s*,\s*(?<value>[\w.]+)\s*>)\s+(?<name>\w+)\s*=\s*(?<number>\d+)\s*;")]
    private static partial Regex FieldLine();
}
