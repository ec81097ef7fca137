using System.Text.Json;
using System.Text.Json.Nodes;
using KubeEmulator.Json;
using KubeEmulator.Resources;
using KubeEmulator.Store;

namespace KubeEmulator.Hosting;

/// <summary>
/// Keeps the store in a JSON file (<see cref="EmulatorOptions.DataFile"/>) so a restarted demo keeps its models:
/// loaded once before start, saved every few seconds when something changed, and on shutdown.
/// </summary>
internal sealed class DataFilePersistence(ResourceStore store, EmulatorOptions options, ILogger<DataFilePersistence> logger) : BackgroundService
{
    private static readonly TimeSpan SaveInterval = TimeSpan.FromSeconds(5);
    private long _savedResourceVersion = -1;

    public static void Load(ResourceStore store, ResourceRegistry registry, string path)
    {
        if (!File.Exists(path)) return;
        var root = JsonTree.ParseMaterialized(File.ReadAllText(path)) as JsonObject
            ?? throw new InvalidDataException($"{path} is not an emulator data file");
        var objects = new List<(ResourceType, JsonObject)>();
        foreach (var item in root["objects"] as JsonArray ?? new JsonArray())
        {
            if (item is not JsonObject obj) continue;
            var type = registry.FindByKind(JsonTree.Str(obj["apiVersion"]) ?? "", JsonTree.Str(obj["kind"]) ?? "");
            if (type is not null) objects.Add((type, (JsonObject)obj.DeepClone()));
        }
        store.Restore(objects, long.TryParse(JsonTree.Str(root["resourceVersion"]), out var rv) ? rv : 0);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(SaveInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken)) Save();
        }
        catch (OperationCanceledException)
        {
            // Stopping: the final save happens in StopAsync.
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        Save();
    }

    private void Save()
    {
        var path = options.DataFile!;
        var (objects, rv) = store.Snapshot();
        if (rv == _savedResourceVersion) return;
        var root = new JsonObject
        {
            ["resourceVersion"] = rv.ToString(),
            ["objects"] = new JsonArray(objects.Select(o => (JsonNode)o.DeepClone()).ToArray()),
        };
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null) Directory.CreateDirectory(directory);
        var temp = path + ".tmp";
        File.WriteAllText(temp, root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.Move(temp, path, overwrite: true);
        _savedResourceVersion = rv;
        logger.LogDebug("Saved {Count} objects at resourceVersion {Rv} to {Path}", objects.Count, rv, path);
    }
}
