using Azure.Data.Tables;
using Inference.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;

namespace Inference.Cluster.Tests;

/// <summary>The box in cluster mode as real processes: N silos and M API hosts (Orleans clients), Azure Table
/// clustering and grain storage on Azurite, the Kubernetes emulator; plus an Orleans client for the test to ask
/// the cluster where grains live.</summary>
public sealed class BoxCluster : IAsyncDisposable
{
    public const string AdminPassword = "cluster-test-admin-password";

    /// <summary>The secret every API host signs and checks API keys with.</summary>
    public static readonly string KeySigningSecret = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(48));

    private readonly List<ServiceProcess> _processes = [];
    private IHost? _client;

    private readonly IReadOnlyDictionary<string, string> _settings;

    private BoxCluster(EmulatorHost emulator, Tokens tokens, string clusterId, string tablePrefix, IReadOnlyDictionary<string, string>? settings)
    {
        _settings = settings ?? new Dictionary<string, string>();
        Emulator = emulator;
        Tokens = tokens;
        ClusterId = clusterId;
        TablePrefix = tablePrefix;
    }

    public EmulatorHost Emulator { get; }

    public Tokens Tokens { get; }

    public string ClusterId { get; }

    public string TablePrefix { get; }

    public List<(ServiceProcess Process, int SiloPort)> Silos { get; } = [];

    public List<(ServiceProcess Process, Uri BaseAddress)> ApiHosts { get; } = [];

    public IClusterClient Client => _client!.Services.GetRequiredService<IClusterClient>();

    /// <param name="settings">Extra environment variables for every process (e.g. RATE_LIMIT_REQUESTS).</param>
    public static async Task<BoxCluster> StartAsync(int silos, int apiHosts, IReadOnlyDictionary<string, string>? settings = null)
    {
        var emulator = await EmulatorHost.StartAsync();
        var cluster = new BoxCluster(emulator, Tokens.WithRandomSecret(), "c" + Guid.NewGuid().ToString("N")[..8], TestEnvironment.UniqueTablePrefix(), settings);
        try
        {
            for (var i = 0; i < silos; i++)
            {
                await cluster.StartSiloAsync();
            }
            for (var i = 0; i < apiHosts; i++)
            {
                await cluster.StartApiHostAsync();
            }
            await cluster.ConnectClientAsync();
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    private Dictionary<string, string> Environment() => new(_settings.Concat(new Dictionary<string, string>
    {
        ["Cluster__Clustering"] = "AzureTable",
        ["Cluster__ClusterId"] = ClusterId,
        ["Cluster__TablePrefix"] = TablePrefix,
        ["ConnectionStrings__Storage"] = TestEnvironment.StorageConnectionString,
        ["KUBECONFIG"] = Emulator.KubeconfigPath,
        ["JWT_SECRET"] = Tokens.Secret,
        ["KeyValidation__SigningKeys__k1"] = KeySigningSecret,
        ["ADMIN_PASSWORD"] = AdminPassword,
        ["Logging__LogLevel__Default"] = "Warning",
    }.Where(d => !_settings.ContainsKey(d.Key))));

    public async Task<ServiceProcess> StartSiloAsync()
    {
        var siloPort = TestEnvironment.FreePort();
        var env = Environment();
        env["Cluster__SiloPort"] = siloPort.ToString();
        env["Cluster__GatewayPort"] = TestEnvironment.FreePort().ToString();
        var http = TestEnvironment.FreePort();
        var silo = ServiceProcess.Start($"silo-{Silos.Count}", "Silo", "Inference.Silo", env, "--urls", $"http://127.0.0.1:{http}");
        _processes.Add(silo);
        Silos.Add((silo, siloPort));
        await WaitHealthy(silo, new Uri($"http://127.0.0.1:{http}/health"));
        return silo;
    }

    public async Task<Uri> StartApiHostAsync()
    {
        var port = TestEnvironment.FreePort();
        var env = Environment();
        env["Mode"] = "Client";
        env["PORT"] = port.ToString();
        env["urls"] = $"http://127.0.0.1:{port}";
        var host = ServiceProcess.Start($"api-{ApiHosts.Count}", "ApiHost", "Inference.ApiHost", env);
        _processes.Add(host);
        var address = new Uri($"http://127.0.0.1:{port}");
        ApiHosts.Add((host, address));
        await WaitHealthy(host, new Uri(address, "/ready"));
        return address;
    }

    private async Task ConnectClientAsync()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.UseOrleansClient(client =>
        {
            client.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = ClusterId;
                o.ServiceId = "inference-management";
            });
            client.UseAzureStorageClustering(o =>
            {
                o.TableServiceClient = new TableServiceClient(TestEnvironment.StorageConnectionString);
                o.TableName = TablePrefix + "membership";
            });
            client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(10));
        });
        _client = builder.Build();
        await _client.StartAsync();
    }

    private static async Task WaitHealthy(ServiceProcess process, Uri url)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        await TestEnvironment.Eventually(async () =>
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"{process.Name} exited during start-up\n{process.RecentOutput}");
            }
            try
            {
                return (await http.GetAsync(url)).IsSuccessStatusCode;
            }
            catch (HttpRequestException)
            {
                return false;
            }
            catch (TaskCanceledException)
            {
                return false;
            }
        }, ok => ok, TimeSpan.FromSeconds(90), $"{process.Name} at {url}");
    }

    public string Diagnostics() => string.Join("\n", _processes.Select(p => p.RecentOutput));

    public async ValueTask DisposeAsync()
    {
        if (_client is not null)
        {
            try
            {
                await _client.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(5)).Token);
            }
            catch (Exception)
            {
                // The cluster may already be gone; nothing to release then.
            }
            _client.Dispose();
        }
        foreach (var process in _processes)
        {
            process.Dispose();
        }
        await Emulator.DisposeAsync();
    }
}
