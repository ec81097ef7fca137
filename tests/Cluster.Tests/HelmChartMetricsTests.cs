using System.Text.Json.Nodes;

namespace Inference.Cluster.Tests;

/// <summary>The chart's metrics switch: the metrics port on every silo and API host, open only to the scraping
/// namespaces, and the Grafana dashboard ConfigMap for the sidecar.</summary>
public sealed partial class HelmChartTests
{
    private static readonly string[] ServiceSeries =
    [
        "inference_key_validation_validations_total", "inference_key_leases_grants_total", "inference_models{",
        "inference_publications{", "inference_publications_changes_total", "inference_websocket_connections",
        "inference_websocket_slow_clients_dropped_total", "inference_kubernetes_request_duration_seconds_count",
        "inference_watch_lag_seconds", "inference_watch_relists_total", "inference_audit_write_failures_total",
        "inference_key_validation_duration_seconds_bucket",
        "http_server_request_duration_seconds", "orleans_", "dotnet_",
    ];

    [Fact]
    public async Task With_metrics_on_every_pod_serves_them_on_their_port_to_the_scrapers_only_and_the_dashboard_is_labelled_for_the_sidecar()
    {
        var docs = await Render("tls.generate=true", "metrics.enabled=true", "metrics.grafanaDashboard.enabled=true",
            "metrics.scrapeNamespaces={monitoring}");
        foreach (var name in new[] { "r-inference-management-silo", "r-inference-management-apihost" })
        {
            var template = Find(Single(docs, "Deployment", name), "spec", "template")!;
            var container = Assert.Single(Sequence(template, "spec", "containers"));
            Assert.Equal("9464", Env(container)["METRICS_PORT"]);
            Assert.Contains(Sequence(container, "ports"), p => Scalar(p, "name") == "metrics" && Scalar(p, "containerPort") == "9464");
            Assert.Equal("true", Scalar(template, "metadata", "annotations", "prometheus.io/scrape"));
        }
        var policy = Single(docs, "NetworkPolicy", "r-inference-management-metrics");
        var rule = Assert.Single(Sequence(policy, "spec", "ingress"));
        Assert.Equal(["monitoring"], Sequence(rule, "from").Select(p => Scalar(p, "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name")));
        Assert.Equal(["metrics"], Sequence(rule, "ports").Select(p => Scalar(p, "port")));

        var dashboard = Single(docs, "ConfigMap", "r-inference-management-grafana-dashboard");
        Assert.Equal("1", Scalar(dashboard, "metadata", "labels", "grafana_dashboard"));
        var json = JsonNode.Parse(Scalar(dashboard, "data", "inference-management.json")!)!;
        var queries = string.Join("\n", json["panels"]!.AsArray().SelectMany(p => p!["targets"]!.AsArray()).Select(t => t!["expr"]!.GetValue<string>()));
        Assert.All(ServiceSeries, series => Assert.Contains(series.TrimEnd('{'), queries));
    }

    [Fact]
    public async Task Without_metrics_no_pod_listens_for_them_and_no_scraper_is_admitted()
    {
        var docs = await Render("tls.generate=true", "metrics.scrapeNamespaces={monitoring}", "metrics.grafanaDashboard.enabled=true");
        Assert.DoesNotContain("METRICS_PORT", EnvNames(ApiHostContainer(docs), docs));
        Assert.DoesNotContain(docs, d => Scalar(d, "metadata", "name") is "r-inference-management-metrics" or "r-inference-management-grafana-dashboard");
    }

    [Fact]
    public async Task With_no_scraping_namespace_the_metrics_policy_admits_no_one()
    {
        var docs = await Render("tls.generate=true", "metrics.enabled=true");
        var policy = Single(docs, "NetworkPolicy", "r-inference-management-metrics");
        Assert.Empty(Sequence(policy, "spec", "ingress"));
    }
}
