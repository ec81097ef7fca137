using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
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

    private BoxCluster(EmulatorHost emulator, Tokens tokens, string clusterId, string tablePrefix, IReadOnlyDictionary<string, string>? settings, string? storage)
    {
        StorageConnectionString = storage ?? TestEnvironment.StorageConnectionString;
        Certificates = Directory.CreateTempSubdirectory("box-cluster-certs-").FullName;
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

    /// <summary>The Azure Storage every process uses (the shared test Azurite unless a test brings its own).</summary>
    public string StorageConnectionString { get; }

    /// <summary>The cluster's CA and node certificate (ca.crt, tls.crt, tls.key), made by the silo's `certs`
    /// command as ./box cluster makes them.</summary>
    public string Certificates { get; }

    public List<(ServiceProcess Process, int SiloPort)> Silos { get; } = [];

    public List<(ServiceProcess Process, Uri BaseAddress)> ApiHosts { get; } = [];

    public IClusterClient Client => _client!.Services.GetRequiredService<IClusterClient>();

    /// <param name="settings">Extra environment variables for every process (e.g. RATE_LIMIT_REQUESTS).</param>
    /// <summary>Processes keep every line they write (<see cref="ServiceProcess.AllOutput"/>), not only the last ones.</summary>
    public bool KeepAllOutput { get; private init; }

    /// <param name="siloEnvironment">Called before the i-th silo starts, for variables of that silo alone (e.g. the
    /// ones a pod gets, after creating its Pod in the emulator).</param>
    /// <param name="storage">Azure Storage connection string (a test's own Azurite), instead of the shared one.</param>
    /// <param name="emulator">A Kubernetes emulator the test controls (stops, restarts); one of the cluster's own otherwise.</param>
    public static async Task<BoxCluster> StartAsync(int silos, int apiHosts, IReadOnlyDictionary<string, string>? settings = null,
        Func<BoxCluster, int, Task<IReadOnlyDictionary<string, string>>>? siloEnvironment = null, string? storage = null, EmulatorHost? emulator = null,
        bool keepAllOutput = false)
    {
        emulator ??= await EmulatorHost.StartAsync();
        var cluster = new BoxCluster(emulator, Tokens.WithRandomSecret(audience: "inference-cluster-tests"), "c" + Guid.NewGuid().ToString("N")[..8], TestEnvironment.UniqueTablePrefix(), settings, storage)
        {
            KeepAllOutput = keepAllOutput,
        };
        try
        {
            await GenerateCertificatesAsync(cluster.Certificates);
            for (var i = 0; i < silos; i++)
            {
                await cluster.StartSiloAsync(siloEnvironment is null ? null : await siloEnvironment(cluster, i));
            }
            for (var i = 0; i < apiHosts; i++)
            {
                await cluster.StartApiHostAsync();
            }
            await cluster.ConnectClientAsync();
            return cluster;
        }
        catch (Exception e)
        {
            // What the other processes said is often why this one failed (e.g. who declared it dead).
            var diagnostics = cluster.Diagnostics();
            await cluster.DisposeAsync();
            throw new InvalidOperationException($"the cluster did not start: {e.Message}\n{diagnostics}", e);
        }
    }

    private Dictionary<string, string> Environment() => new(_settings.Concat(new Dictionary<string, string>
    {
        // The functional cluster tests are not about timeouts, and on a machine as loaded as the shared test box a
        // cold grain call can take longer than the failure detection time the API hosts wait by default; the fault
        // tests set "" to keep the default (ClusterSettings.ClientResponseTimeout).
        ["Cluster__ClientResponseTimeout"] = "00:00:10",
        ["Cluster__Clustering"] = "AzureTable",
        ["Cluster__ClusterId"] = ClusterId,
        ["Cluster__TablePrefix"] = TablePrefix,
        ["ConnectionStrings__Storage"] = StorageConnectionString,
        ["KUBECONFIG"] = Emulator.KubeconfigPath,
        ["JWT_SECRET"] = Tokens.Secret,
        ["KeyValidation__SigningKeys__k1"] = KeySigningSecret,
        ["Auth__Audience"] = Tokens.Audience!,
        ["ADMIN_PASSWORD"] = AdminPassword,
        ["Logging__LogLevel__Default"] = "Warning",
        ["Cluster__Tls__CertificatePath"] = Path.Combine(Certificates, "tls.crt"),
        ["Cluster__Tls__KeyPath"] = Path.Combine(Certificates, "tls.key"),
        ["Cluster__Tls__CaPath"] = Path.Combine(Certificates, "ca.crt"),
    }.Where(d => !_settings.ContainsKey(d.Key))).Where(d => d.Value.Length > 0));

    public async Task<ServiceProcess> StartSiloAsync(IReadOnlyDictionary<string, string>? extra = null)
    {
        var siloPort = TestEnvironment.FreePort();
        var env = Environment();
        foreach (var (key, value) in extra ?? new Dictionary<string, string>())
        {
            env[key] = value;
        }
        env["Cluster__SiloPort"] = siloPort.ToString();
        env["Cluster__GatewayPort"] = TestEnvironment.FreePort().ToString();
        var http = TestEnvironment.FreePort();
        var silo = ServiceProcess.Start($"silo-{Silos.Count}", "Silo", "Inference.Silo", env, KeepAllOutput, "--urls", $"http://127.0.0.1:{http}");
        _processes.Add(silo);
        Silos.Add((silo, siloPort));
        // /ready: the silo is an active member of the cluster (what the chart's readiness probe asks).
        await WaitHealthy(silo, new Uri($"http://127.0.0.1:{http}/ready"));
        return silo;
    }

    public Task<Uri> StartApiHostAsync() => StartApiHostAsync(TestEnvironment.FreePort());

    /// <summary>Starts API host <paramref name="index"/> again on its address (after it exited).</summary>
    public async Task RestartApiHostAsync(int index)
    {
        var (old, address) = ApiHosts[index];
        if (!old.HasExited)
        {
            throw new InvalidOperationException($"{old.Name} is still running");
        }
        await StartApiHostAsync(address.Port);
        ApiHosts[index] = ApiHosts[^1];
        ApiHosts.RemoveAt(ApiHosts.Count - 1);
    }

    /// <summary>Every silo and API host sent SIGTERM at once; true when all exited within <paramref name="limit"/>.</summary>
    public bool TerminateAll(TimeSpan limit)
    {
        var running = Silos.Select(s => s.Process).Concat(ApiHosts.Select(h => h.Process)).Where(p => !p.HasExited).ToList();
        foreach (var process in running)
        {
            process.Terminate();
        }
        var until = DateTime.UtcNow + limit;
        return running.All(p => p.WaitForExit(until - DateTime.UtcNow is { Ticks: > 0 } left ? left : TimeSpan.Zero));
    }

    /// <summary>After <see cref="TerminateAll"/>: as many silos as before (new ports) and the API hosts on their
    /// addresses, on the same storage and Kubernetes API.</summary>
    public async Task StartAllAgainAsync()
    {
        var silos = Silos.Count;
        Silos.Clear();
        for (var i = 0; i < silos; i++)
        {
            await StartSiloAsync();
        }
        for (var i = 0; i < ApiHosts.Count; i++)
        {
            await RestartApiHostAsync(i);
        }
    }

    private async Task<Uri> StartApiHostAsync(int port)
    {
        var env = Environment();
        env["Mode"] = "Client";
        env["PORT"] = port.ToString();
        env["urls"] = $"http://127.0.0.1:{port}";
        var host = ServiceProcess.Start($"api-{ApiHosts.Count}", "ApiHost", "Inference.ApiHost", env, KeepAllOutput);
        _processes.Add(host);
        var address = new Uri($"http://127.0.0.1:{port}");
        ApiHosts.Add((host, address));
        await WaitHealthy(host, new Uri(address, "/ready"));
        return address;
    }

    private async Task ConnectClientAsync()
    {
        _client = await StartClientAsync(client => client.UseTls(
            X509Certificate2.CreateFromPemFile(Path.Combine(Certificates, "tls.crt"), Path.Combine(Certificates, "tls.key")),
            o => o.RemoteCertificateValidation = IssuedBy(Path.Combine(Certificates, "ca.crt"))));
    }

    /// <summary>Starts an Orleans client of this cluster (membership from its table), with the connection security
    /// <paramref name="security"/> sets up, or none. Throws when the client cannot connect.</summary>
    public async Task<IHost> StartClientAsync(Action<IClientBuilder>? security)
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
                o.TableServiceClient = new TableServiceClient(StorageConnectionString);
                o.TableName = TablePrefix + "membership";
            });
            client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(10));
            security?.Invoke(client);
        });
        var host = builder.Build();
        try
        {
            await host.StartAsync();
            return host;
        }
        catch
        {
            host.Dispose();
            throw;
        }
    }

    /// <summary>The test's own client trusts the silos only with a certificate from the cluster's CA.</summary>
    private static Orleans.Connections.Security.RemoteCertificateValidator IssuedBy(string caPath)
    {
        var trusted = new X509Certificate2Collection();
        trusted.ImportFromPemFile(caPath);
        return (certificate, _, errors) =>
        {
            if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
            {
                return false;
            }
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(trusted);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return chain.Build(certificate);
        };
    }

    /// <summary>Runs `Inference.Silo certs DIR`, the command ./box cluster runs.</summary>
    public static async Task GenerateCertificatesAsync(string directory)
    {
        using var command = ServiceProcess.Start("certs", "Silo", "Inference.Silo", new Dictionary<string, string>(), "certs", directory);
        var exitCode = await command.WaitForExitAsync(TimeSpan.FromSeconds(60));
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"certs exited with {exitCode}\n{command.RecentOutput}");
        }
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
        Directory.Delete(Certificates, recursive: true);
    }
}
