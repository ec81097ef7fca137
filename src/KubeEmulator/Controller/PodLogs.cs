using System.Collections.Concurrent;
using System.Text;
using System.Text.Json.Nodes;
using KubeEmulator.Api;
using KubeEmulator.Http;
using KubeEmulator.Json;

namespace KubeEmulator.Controller;

/// <summary>
/// Container output of emulated pods (what the kubelet would serve), bounded per container, and the
/// <c>pods/{name}/log</c> endpoint with its <c>container</c>, <c>tailLines</c> and <c>timestamps</c> options.
/// </summary>
internal sealed class PodLogs
{
    private const int MaxLinesPerContainer = 1000;

    private readonly ConcurrentDictionary<string, Queue<(DateTimeOffset At, string Line)>> _logs = new();

    public void Append(string ns, string pod, string container, string line)
    {
        var queue = _logs.GetOrAdd(Key(ns, pod, container), _ => new Queue<(DateTimeOffset, string)>());
        lock (queue)
        {
            queue.Enqueue((DateTimeOffset.UtcNow, line));
            while (queue.Count > MaxLinesPerContainer) queue.Dequeue();
        }
    }

    /// <summary>Drops the output of a pod that no longer exists.</summary>
    public void ForgetPod(string ns, string pod) => ForgetWhere($"{ns}/{pod}/");

    /// <summary>Drops the output of every pod whose name starts with <paramref name="podNamePrefix"/>.</summary>
    public void ForgetPods(string ns, string podNamePrefix) => ForgetWhere($"{ns}/{podNamePrefix}");

    private void ForgetWhere(string keyPrefix)
    {
        foreach (var key in _logs.Keys.Where(k => k.StartsWith(keyPrefix, StringComparison.Ordinal)))
            _logs.TryRemove(key, out _);
    }

    public async Task WriteAsync(HttpContext ctx, JsonObject pod)
    {
        var ns = JsonTree.Str(pod["metadata"]?["namespace"])!;
        var name = JsonTree.Str(pod["metadata"]?["name"])!;
        var containers = (pod["spec"]?["containers"] as JsonArray ?? new JsonArray()).Select(c => JsonTree.Str(c?["name"])).OfType<string>().ToList();
        var container = ctx.Request.Query["container"].ToString();
        if (container.Length == 0)
        {
            if (containers.Count != 1)
                throw ApiException.BadRequest($"a container name must be specified for pod {name}, choose one of: [{string.Join(' ', containers)}]");
            container = containers[0];
        }
        else if (!containers.Contains(container))
        {
            throw ApiException.BadRequest($"container {container} is not valid for pod {name}");
        }

        List<(DateTimeOffset At, string Line)> lines = [];
        if (_logs.TryGetValue(Key(ns, name, container), out var queue))
            lock (queue) lines = queue.ToList();
        if (QueryParams.Int64(ctx.Request, "tailLines") is >= 0 and var tail && tail < lines.Count)
            lines = lines[^(int)tail..];
        var timestamps = QueryParams.Bool(ctx.Request, "timestamps");

        var text = new StringBuilder();
        foreach (var (at, line) in lines)
        {
            if (timestamps) text.Append(at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'")).Append(' ');
            text.Append(line).Append('\n');
        }
        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = "text/plain";
        await ctx.Response.WriteAsync(text.ToString(), ctx.RequestAborted);
    }

    private static string Key(string ns, string pod, string container) => $"{ns}/{pod}/{container}";
}
