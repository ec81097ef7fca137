using Inference.ApiHost;
using Inference.TestSupport;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Inference.Api.Tests;

/// <summary>A bad setting stops the host at start, and the message names the variable to set.</summary>
public sealed class SettingsTests
{
    [Theory]
    [InlineData("RateLimit:Burst", "0", "RateLimit__Burst must be at least 1")]
    [InlineData("RATE_LIMIT_REQUESTS", "0", "RATE_LIMIT_REQUESTS (or RateLimit__RequestsPerMinute) must be at least 1")]
    [InlineData("Predict:Timeout", "-00:00:01", "Predict__Timeout must be a positive time span")]
    [InlineData("Realtime:SendQueueCapacity", "0", "Realtime__SendQueueCapacity must be at least 1")]
    [InlineData("Kubectl:MaxOutputChars", "0", "Kubectl__MaxOutputChars must be at least 1")]
    [InlineData("Auth:LoginFailuresPerMinute", "0", "Auth__LoginFailuresPerMinute must be at least 1")]
    [InlineData("Audit:SweepBatch", "0", "Audit__SweepBatch must be at least 1")]
    [InlineData("Proxies:Trusted:0", "gateway", "Proxies__Trusted: 'gateway' is neither an address nor a CIDR range")]
    [InlineData("TenantQuotas:MaxModels", "0", "TenantQuotas__MaxModels must be at least 1")]
    [InlineData("ModelStorage:AllowedHosts:0", "not a host", "ModelStorage__AllowedHosts: 'not a host'")]
    [InlineData("Gateway:AuthServicePort", "70000", "Gateway__AuthServicePort must be a port")]
    [InlineData("Gateway:AuthServiceFallbackPort", "8085", "Gateway__AuthServiceFallbackPort must be a port (1-65535) other than Gateway__AuthServicePort")]
    [InlineData("KeyValidation:Port", "70000", "KeyValidation__Port must be a TCP port")]
    [InlineData("KeyValidation:Port", "0", "KeyValidation__Port must be a TCP port")]
    [InlineData("Kubernetes:RequestTimeout", "00:00:00", "Kubernetes__RequestTimeout must be positive")]
    [InlineData("Cluster:TablePrefix", "no-dashes", "Cluster__TablePrefix must be 1-40 letters or digits")]
    [InlineData("Cluster:GatewayPort", "0", "Cluster__SiloPort and Cluster__GatewayPort must be two different ports")]
    public async Task A_bad_setting_fails_start_up_naming_the_variable(string key, string value, string message)
    {
        var e = await StartupChecks.FailureAsync(new() { [key] = value });
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public async Task A_bad_log_format_fails_start_up_naming_it()
    {
        var e = await StartupChecks.FailureAsync(new() { ["LOG_FORMAT"] = "xml" });
        Assert.Contains("LOG_FORMAT must be text or json, not 'xml'", e.Message);
    }

    /// <summary>The metrics port answers nothing but /metrics, so on the API's port it would shut the API out.</summary>
    [Theory]
    [InlineData("urls")]
    [InlineData("http_ports")]
    public async Task Metrics_on_the_api_port_fail_start_up_naming_both(string setting)
    {
        var port = TestEnvironment.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var e = await StartupChecks.FailureAsync(setting == "urls"
            ? new() { ["urls"] = $"http://127.0.0.1:{port}", ["METRICS_PORT"] = port }
            : new() { ["urls"] = null, ["http_ports"] = port, ["METRICS_PORT"] = port });
        Assert.Contains($"METRICS_PORT ({port}) must differ from the port the API listens on", e.Message);
    }

    /// <summary>The validation port is a listener of its own: on another listener's port it would fail start-up with a
    /// bind error from whichever binds second (or, on the metrics port, be answered by the wrong application).</summary>
    [Theory]
    [InlineData("urls", "the port the API listens on (http://127.0.0.1:{0}")]
    [InlineData("http_ports", "the port the API listens on (http://+:{0}")]
    [InlineData("METRICS_PORT", "METRICS_PORT")]
    [InlineData("Cluster:SiloPort", "Cluster__SiloPort")]
    [InlineData("Cluster:GatewayPort", "Cluster__GatewayPort")]
    public async Task A_validation_port_on_another_listeners_port_fails_start_up_naming_both(string setting, string other)
    {
        var port = TestEnvironment.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var settings = new Dictionary<string, string?> { ["KeyValidation:Port"] = port };
        switch (setting)
        {
            case "urls":
                settings["urls"] = $"http://127.0.0.1:{port}";
                break;
            case "http_ports":
                settings["urls"] = null;
                settings["http_ports"] = port;
                break;
            default:
                settings[setting] = port;
                break;
        }
        var e = await StartupChecks.FailureAsync(settings);
        Assert.Contains($"KeyValidation__Port ({port}) must differ from {string.Format(System.Globalization.CultureInfo.InvariantCulture, other, port)}", e.Message);
    }

    [Fact]
    public async Task A_cluster_without_a_jwt_secret_fails_start_up_naming_it()
    {
        var e = await StartupChecks.FailureAsync(new()
        {
            ["Mode"] = "Client",
            ["Cluster:Tls:Disabled"] = "true",
            ["KeyValidation:SigningKeys:k1"] = Convert.ToBase64String(new byte[48]),
            ["ADMIN_PASSWORD"] = "not-the-default",
            ["Auth:Audience"] = "management-service",
            ["JWT_SECRET"] = "",
        });
        Assert.Contains("JWT_SECRET must be set", e.Message);
    }
}

/// <summary>Start-up checks: settings are checked when the host starts (options validation), not while it is built.</summary>
public static class StartupChecks
{
    /// <summary>Builds and starts a host with these settings on top of a usable laptop configuration, and returns
    /// how it refused to start (settings read while building count as start-up too).</summary>
    public static async Task<OptionsValidationException> FailureAsync(Dictionary<string, string?> settings)
    {
        var kubeconfig = Path.Combine(Path.GetTempPath(), $"settings-test-{Guid.NewGuid():N}.kubeconfig");
        await File.WriteAllTextAsync(kubeconfig, """
            apiVersion: v1
            kind: Config
            clusters: [{name: c, cluster: {server: "http://127.0.0.1:9"}}]
            users: [{name: u, user: {token: t}}]
            contexts: [{name: x, context: {cluster: c, user: u}}]
            current-context: x
            """);
        try
        {
            return await Assert.ThrowsAsync<OptionsValidationException>(async () =>
            {
                await using var app = ApiHostApp.Build([], builder =>
                {
                    builder.WebHost.UseUrls("http://127.0.0.1:0");
                    builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
                    {
                        ["KUBECONFIG"] = kubeconfig,
                        ["JWT_SECRET"] = new string('s', 48),
                        ["ConnectionStrings:Storage"] = TestEnvironment.StorageConnectionString,
                        ["Cluster:TablePrefix"] = TestEnvironment.UniqueTablePrefix(),
                        ["Cluster:SiloPort"] = TestEnvironment.FreePort().ToString(),
                        ["Cluster:GatewayPort"] = TestEnvironment.FreePort().ToString(),
                    });
                    builder.Configuration.AddInMemoryCollection(settings);
                });
                await app.StartAsync();
                await app.StopAsync();
            });
        }
        finally
        {
            File.Delete(kubeconfig);
        }
    }
}
