namespace Inference.Bench.ScaleMeasure;

public sealed record Options(
    string Storage,
    int Tenants,
    int Models,
    int Keys,
    int Subscribers,
    int SubscribersPerTenant,
    int Rounds,
    int Seconds,
    int Connections,
    TimeSpan MaxTime,
    IReadOnlySet<string> Only,
    string WorkDirectory)
{
    public bool Runs(string phase) => Only.Count == 0 || Only.Contains(phase);

    public static Options Parse(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
            {
                throw new ArgumentException($"expected --name value pairs, got '{args[i]}'");
            }
            values[args[i][2..]] = args[++i];
        }
        int Int(string name, int fallback, int min, int max)
        {
            if (!values.Remove(name, out var text))
            {
                return fallback;
            }
            if (!int.TryParse(text, out var value) || value < min || value > max)
            {
                throw new ArgumentException($"--{name} must be a whole number from {min} to {max} (got '{text}')");
            }
            return value;
        }
        var storage = values.Remove("storage", out var s) ? s
            : Environment.GetEnvironmentVariable("TEST_STORAGE_CONNECTION_STRING") is { Length: > 0 } t ? t
            : throw new ArgumentException("--storage (an Azure Storage connection string, e.g. a private Azurite) is required");
        var only = values.Remove("only", out var o) ? o.Split(',', StringSplitOptions.RemoveEmptyEntries).ToHashSet() : [];
        if (only.Except(["models", "events", "keys"]).FirstOrDefault() is { } unknown)
        {
            throw new ArgumentException($"--only takes models, events and keys (got '{unknown}')");
        }
        var work = values.Remove("work", out var w) ? w : Directory.CreateTempSubdirectory("scale-").FullName;
        var options = new Options(
            storage,
            Int("tenants", 100, 1, 100_000),
            Int("models", 10, 1, 100),
            Int("keys", 10_000, 2, 10_000_000),
            Int("subscribers", 200, 1, 100_000),
            Int("subscribers-per-tenant", 10, 1, 10),
            Int("rounds", 30, 1, 10_000),
            Int("seconds", 8, 1, 3600),
            Int("connections", 16, 1, 1024),
            TimeSpan.FromMinutes(Int("max-minutes", 15, 1, 24 * 60)),
            only,
            work);
        if (values.Count > 0)
        {
            throw new ArgumentException($"unknown option --{values.Keys.First()}");
        }
        return options;
    }
}
