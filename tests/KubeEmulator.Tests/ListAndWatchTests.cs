using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using static KubeEmulator.Tests.EmulatorFixture;

namespace KubeEmulator.Tests;

public sealed class ListAndWatchTests(EmulatorFixture emulator) : IClassFixture<EmulatorFixture>
{
    private async Task<string> NamespaceWithLabelledModelsAsync()
    {
        var ns = await emulator.NewNamespaceAsync();
        await emulator.CreateIsvcAsync(ns, Isvc("prod-a", labels: new JsonObject { ["env"] = "prod", ["tier"] = "gold" }));
        await emulator.CreateIsvcAsync(ns, Isvc("prod-b", labels: new JsonObject { ["env"] = "prod" }));
        await emulator.CreateIsvcAsync(ns, Isvc("dev-a", labels: new JsonObject { ["env"] = "dev", ["tier"] = "bronze" }));
        await emulator.CreateIsvcAsync(ns, Isvc("none"));
        return ns;
    }

    private async Task<string[]> NamesAsync(string ns, string? labelSelector = null, string? fieldSelector = null)
    {
        var list = await emulator.Client.CustomObjects.ListNamespacedCustomObjectAsync<JsonObject>(
            Group, IsvcVersion, ns, Plural, labelSelector: labelSelector, fieldSelector: fieldSelector);
        return list["items"]!.AsArray().Select(i => i!["metadata"]!["name"]!.GetValue<string>()).Order().ToArray();
    }

    [Theory]
    [InlineData("env=prod", "prod-a,prod-b")]
    [InlineData("env==prod", "prod-a,prod-b")]
    [InlineData("env!=prod", "dev-a,none")]
    [InlineData("env in (dev, prod)", "dev-a,prod-a,prod-b")]
    [InlineData("tier notin (gold)", "dev-a,none,prod-b")]
    [InlineData("tier", "dev-a,prod-a")]
    [InlineData("!tier", "none,prod-b")]
    [InlineData("env=prod,tier", "prod-a")]
    public async Task Label_selectors_filter_lists(string selector, string expected)
    {
        var ns = await NamespaceWithLabelledModelsAsync();

        Assert.Equal(expected.Split(','), await NamesAsync(ns, selector));
    }

    [Fact]
    public async Task Field_selectors_on_name_work_and_unknown_fields_are_400()
    {
        var ns = await NamespaceWithLabelledModelsAsync();

        Assert.Equal(["dev-a"], await NamesAsync(ns, fieldSelector: "metadata.name=dev-a"));
        var (code, _) = await FailsAsync(() => NamesAsync(ns, fieldSelector: "spec.predictor=x"));
        Assert.Equal(400, code);
    }

    [Fact]
    public async Task Lists_page_with_limit_and_continue()
    {
        var ns = await NamespaceWithLabelledModelsAsync();

        var first = await emulator.Client.CustomObjects.ListNamespacedCustomObjectAsync<JsonObject>(Group, IsvcVersion, ns, Plural, limit: 3);
        var token = first["metadata"]!["continue"]!.GetValue<string>();
        var second = await emulator.Client.CustomObjects.ListNamespacedCustomObjectAsync<JsonObject>(Group, IsvcVersion, ns, Plural, limit: 3, continueParameter: token);

        Assert.Equal(3, first["items"]!.AsArray().Count);
        Assert.Single(second["items"]!.AsArray());
        Assert.Equal("InferenceServiceList", first["kind"]!.GetValue<string>());
        Assert.Equal(first["metadata"]!["resourceVersion"]!.GetValue<string>(), second["metadata"]!["resourceVersion"]!.GetValue<string>());
    }

    [Fact]
    public async Task Cluster_wide_list_spans_namespaces()
    {
        var ns1 = await emulator.NewNamespaceAsync();
        var ns2 = await emulator.NewNamespaceAsync();
        await emulator.CreateIsvcAsync(ns1, Isvc("cw", labels: new JsonObject { ["cw"] = ns1 }));
        await emulator.CreateIsvcAsync(ns2, Isvc("cw", labels: new JsonObject { ["cw"] = ns1 }));

        var list = await emulator.Client.CustomObjects.ListClusterCustomObjectAsync<JsonObject>(Group, IsvcVersion, Plural, labelSelector: $"cw={ns1}");

        Assert.Equal(2, list["items"]!.AsArray().Count);
    }

    /// <summary>Collects watch events until <paramref name="done"/> says enough.</summary>
    private async Task<List<(WatchEventType Type, JsonElement Object)>> WatchAsync(
        string? ns, string? resourceVersion, Func<List<(WatchEventType Type, JsonElement Object)>, bool> done,
        string? labelSelector = null, bool bookmarks = false, Func<Task>? afterStart = null)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var events = new List<(WatchEventType, JsonElement)>();
        var stream = ns is null
            ? emulator.Client.CustomObjects.WatchListCustomObjectForAllNamespacesAsync(Group, IsvcVersion, Plural,
                resourceVersion: resourceVersion, labelSelector: labelSelector, allowWatchBookmarks: bookmarks, cancellationToken: cts.Token)
            : emulator.Client.CustomObjects.WatchListNamespacedCustomObjectAsync(Group, IsvcVersion, ns, Plural,
                resourceVersion: resourceVersion, labelSelector: labelSelector, allowWatchBookmarks: bookmarks, cancellationToken: cts.Token);
        var started = false;
        await foreach (var (type, obj) in stream)
        {
            events.Add((type, (JsonElement)obj));
            if (!started && afterStart is not null)
            {
                started = true;
                await afterStart();
            }
            if (done(events)) break;
        }
        return events;
    }

    private static string Name(JsonElement obj) => obj.GetProperty("metadata").GetProperty("name").GetString()!;

    [Fact]
    public async Task Watch_from_zero_starts_with_synthetic_added_events()
    {
        var ns = await NamespaceWithLabelledModelsAsync();

        var events = await WatchAsync(ns, "0", e => e.Count == 4);

        Assert.All(events, e => Assert.Equal(WatchEventType.Added, e.Type));
        Assert.Equal(["dev-a", "none", "prod-a", "prod-b"], events.Select(e => Name(e.Object)).Order().ToArray());
    }

    [Fact]
    public async Task Watch_resumes_after_a_resourceVersion_with_only_later_events()
    {
        var ns = await emulator.NewNamespaceAsync();
        await emulator.CreateIsvcAsync(ns, Isvc("before"));
        // The simulated controller writes "before"'s status after its creation; the version taken must follow those writes.
        await emulator.SettledIsvcAsync(ns, "before");
        var list = await emulator.Client.CustomObjects.ListNamespacedCustomObjectAsync<JsonObject>(Group, IsvcVersion, ns, Plural);
        var rv = list["metadata"]!["resourceVersion"]!.GetValue<string>();
        await emulator.CreateIsvcAsync(ns, Isvc("after"));
        await emulator.Client.CustomObjects.DeleteNamespacedCustomObjectAsync(Group, IsvcVersion, ns, Plural, "after");

        var events = await WatchAsync(ns, rv, e => e.Any(x => x.Type == WatchEventType.Deleted));

        Assert.DoesNotContain(events, e => Name(e.Object) == "before");
        Assert.Equal(WatchEventType.Added, events.First().Type);
        Assert.Equal("after", Name(events.First().Object));
        Assert.Equal("after", Name(events.Last().Object));
    }

    [Fact]
    public async Task Watch_sends_bookmarks_when_asked()
    {
        var ns = await emulator.NewNamespaceAsync();
        var list = await emulator.Client.CustomObjects.ListNamespacedCustomObjectAsync<JsonObject>(Group, IsvcVersion, ns, Plural);

        var events = await WatchAsync(ns, list["metadata"]!["resourceVersion"]!.GetValue<string>(), e => e.Any(x => x.Type == WatchEventType.Bookmark), bookmarks: true);

        var bookmark = events.First(e => e.Type == WatchEventType.Bookmark).Object;
        Assert.False(string.IsNullOrEmpty(bookmark.GetProperty("metadata").GetProperty("resourceVersion").GetString()));
        Assert.Equal("InferenceService", bookmark.GetProperty("kind").GetString());
    }

    [Fact]
    public async Task Watch_with_label_selector_reports_objects_leaving_the_selection_as_deleted()
    {
        var ns = await emulator.NewNamespaceAsync();
        await emulator.CreateIsvcAsync(ns, Isvc("w", labels: new JsonObject { ["watched"] = "yes" }));
        await emulator.CreateIsvcAsync(ns, Isvc("other", labels: new JsonObject { ["watched"] = "no" }));

        var events = await WatchAsync(ns, "0", e => e.Any(x => x.Type == WatchEventType.Deleted), labelSelector: "watched=yes",
            afterStart: () => emulator.Client.CustomObjects.PatchNamespacedCustomObjectAsync(
                new V1Patch(new { metadata = new { labels = new { watched = "no" } } }, V1Patch.PatchType.MergePatch), Group, IsvcVersion, ns, Plural, "w"));

        Assert.DoesNotContain(events, e => Name(e.Object) == "other");
        Assert.Equal(WatchEventType.Added, events[0].Type);
        Assert.Equal((WatchEventType.Deleted, "w"), (events[^1].Type, Name(events[^1].Object)));
    }

    [Fact]
    public async Task Cluster_wide_watch_sees_changes_in_every_namespace()
    {
        var ns = await emulator.NewNamespaceAsync();
        var list = await emulator.Client.CustomObjects.ListClusterCustomObjectAsync<JsonObject>(Group, IsvcVersion, Plural);
        await emulator.CreateIsvcAsync(ns, Isvc("anywhere"));

        var events = await WatchAsync(null, list["metadata"]!["resourceVersion"]!.GetValue<string>(), e => e.Any(x => Name(x.Object) == "anywhere"));

        Assert.Contains(events, e => e.Type == WatchEventType.Added && Name(e.Object) == "anywhere");
    }

    [Fact]
    public async Task Pods_can_be_listed_by_field_selector_on_node()
    {
        var ns = await emulator.NewNamespaceAsync();
        await emulator.Client.CoreV1.CreateNamespacedPodAsync(new V1Pod
        {
            Metadata = new() { Name = "p" },
            Spec = new V1PodSpec { NodeName = "emulator-node-2", Containers = [new V1Container { Name = "c", Image = "busybox" }] },
        }, ns);

        var onNode = await emulator.Client.CoreV1.ListNamespacedPodAsync(ns, fieldSelector: "spec.nodeName=emulator-node-2");
        var elsewhere = await emulator.Client.CoreV1.ListNamespacedPodAsync(ns, fieldSelector: "spec.nodeName=emulator-node-1");

        Assert.Single(onNode.Items);
        Assert.Empty(elsewhere.Items);
    }
}

/// <summary>An emulator with a tiny watch history, so resourceVersions expire quickly.</summary>
public sealed class ShortHistoryFixture : EmulatorFixture
{
    protected override void Configure(EmulatorOptions options)
    {
        base.Configure(options);
        options.WatchHistoryLimit = 5;
    }
}

public sealed class WatchExpiryTests(ShortHistoryFixture emulator) : IClassFixture<ShortHistoryFixture>
{
    [Fact]
    public async Task Watch_from_an_expired_resourceVersion_gets_an_error_event_with_410()
    {
        var ns = await emulator.NewNamespaceAsync();
        var first = await emulator.CreateIsvcAsync(ns, Isvc("m0"));
        for (var i = 1; i <= 10; i++) await emulator.CreateIsvcAsync(ns, Isvc($"m{i}"));
        var oldRv = first["metadata"]!["resourceVersion"]!.GetValue<string>();

        // On the wire: HTTP 200 and a single ERROR event carrying the 410 Status, then the end of the stream.
        var url = $"{emulator.BaseAddress}/apis/{Group}/{IsvcVersion}/namespaces/{ns}/{Plural}?watch=true&resourceVersion={oldRv}";
        using var response = await emulator.Http.GetAsync(url);
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        var lines = (await response.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var line = JsonNode.Parse(Assert.Single(lines))!;
        Assert.Equal("ERROR", line["type"]!.GetValue<string>());
        Assert.Equal(410, line["object"]!["code"]!.GetValue<int>());
        Assert.Equal("Expired", line["object"]!["reason"]!.GetValue<string>());
        Assert.StartsWith($"too old resource version: {oldRv} (", line["object"]!["message"]!.GetValue<string>());

        // Through KubernetesClient: the Status event is surfaced as a KubernetesException via onError.
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var errors = new List<Exception>();
        var events = 0;
        await foreach (var _ in emulator.Client.CustomObjects.WatchListNamespacedCustomObjectAsync(
            Group, IsvcVersion, ns, Plural, resourceVersion: oldRv, onError: errors.Add, cancellationToken: cts.Token))
            events++;
        Assert.Equal(0, events);
        var error = Assert.IsType<KubernetesException>(Assert.Single(errors));
        Assert.Equal(410, error.Status.Code);
        Assert.Equal("Expired", error.Status.Reason);
    }
}

/// <summary>Compaction ends every open watch of the emulator: a class (and emulator) of its own.</summary>
public sealed class WatchCompactionTests(EmulatorFixture emulator) : IClassFixture<EmulatorFixture>
{
    [Fact]
    public async Task The_simulated_controller_lists_again_after_a_compaction_and_models_still_become_ready()
    {
        var ns = await emulator.NewNamespaceAsync();
        emulator.CompactWatchHistory();
        await emulator.CreateIsvcAsync(ns, Isvc("after"));
        var isvc = await EventuallyAsync(() => emulator.GetIsvcAsync(ns, "after"),
            i => i["status"]?["conditions"] is JsonArray conditions
                && conditions.Any(c => c!["type"]!.GetValue<string>() == "Ready" && c["status"]!.GetValue<string>() == "True"));
        Assert.NotNull(isvc["status"]!["url"]);
    }

    [Fact]
    public async Task A_compaction_ends_open_watches_with_an_error_event_with_410_and_expires_older_versions()
    {
        var ns = await emulator.NewNamespaceAsync();
        var before = await emulator.CreateIsvcAsync(ns, Isvc("c0"));
        var from = before["metadata"]!["resourceVersion"]!.GetValue<string>();
        var url = $"{emulator.BaseAddress}/apis/{Group}/{IsvcVersion}/namespaces/{ns}/{Plural}?watch=true&resourceVersion={from}";
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var response = await emulator.Http.SendAsync(new HttpRequestMessage(HttpMethod.Get, url), HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(timeout.Token));

        await emulator.CreateIsvcAsync(ns, Isvc("c1"));
        JsonNode line;
        do
        {
            line = JsonNode.Parse((await reader.ReadLineAsync(timeout.Token))!)!;
        }
        while (line["object"]!["metadata"]?["name"]?.GetValue<string>() != "c1");
        emulator.CompactWatchHistory();

        // The open watch: whatever events were still queued (the simulated controller writes on), then an ERROR
        // event with the 410 Status, then the end of the stream.
        var lines = new List<JsonNode>();
        while (await reader.ReadLineAsync(timeout.Token) is { } next)
        {
            lines.Add(JsonNode.Parse(next)!);
        }
        var error = lines[^1];
        Assert.All(lines.SkipLast(1), l => Assert.NotEqual("ERROR", l["type"]!.GetValue<string>()));
        Assert.Equal("ERROR", error["type"]!.GetValue<string>());
        Assert.Equal(410, error["object"]!["code"]!.GetValue<int>());
        Assert.Equal("Expired", error["object"]!["reason"]!.GetValue<string>());
        Assert.Null(await reader.ReadLineAsync(timeout.Token));

        // Resuming from a version before the compaction is 410 too.
        var resumed = await emulator.Http.GetStringAsync(url, timeout.Token);
        Assert.Equal(410, JsonNode.Parse(resumed.Split('\n')[0])!["object"]!["code"]!.GetValue<int>());
    }
}
