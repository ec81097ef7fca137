using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Inference.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Inference.Cluster.Tests;

/// <summary>Tenants run code inside the cluster, so the silo and gateway ports admit only peers holding a
/// certificate from the cluster's CA (issue 12, item 5). The intruders here accept any server certificate: what
/// refuses them must be the silo.</summary>
public sealed class ClusterTlsTests(ClusterTlsTests.TwoSilos cluster) : IClassFixture<ClusterTlsTests.TwoSilos>
{
    private readonly BoxCluster _box = cluster.Box;

    /// <summary>One cluster for every attempt: none of them changes it.</summary>
    public sealed class TwoSilos : IAsyncLifetime
    {
        public BoxCluster Box { get; private set; } = null!;

        public async Task InitializeAsync() => Box = await BoxCluster.StartAsync(silos: 2, apiHosts: 0);

        public async Task DisposeAsync() => await Box.DisposeAsync();
    }

    [Fact]
    public async Task A_client_with_the_cluster_certificate_calls_a_grain()
    {
        var hosts = await _box.Client.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true);
        Assert.Equal(2, hosts.Count);
    }

    [Fact]
    public async Task A_client_without_a_certificate_cannot_connect()
    {
        await AssertRefused(security: null);
    }

    [Fact]
    public async Task A_client_using_TLS_without_a_client_certificate_cannot_connect()
    {
        await AssertRefused(client => client.UseTls(o =>
        {
            o.ClientCertificateMode = Orleans.Connections.Security.RemoteCertificateMode.NoCertificate;
            o.AllowAnyRemoteCertificate();
        }));
    }

    [Fact]
    public async Task A_client_with_a_certificate_from_another_CA_cannot_connect()
    {
        var other = Directory.CreateTempSubdirectory("box-other-ca-").FullName;
        try
        {
            await BoxCluster.GenerateCertificatesAsync(other);
            var certificate = X509Certificate2.CreateFromPemFile(Path.Combine(other, "tls.crt"), Path.Combine(other, "tls.key"));
            await AssertRefused(client => client.UseTls(certificate, o => o.AllowAnyRemoteCertificate()));
        }
        finally
        {
            Directory.Delete(other, recursive: true);
        }
    }

    [Fact]
    public async Task A_client_with_a_self_signed_certificate_cannot_connect()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=inference-management node", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        await AssertRefused(client => client.UseTls(certificate, o => o.AllowAnyRemoteCertificate()));
    }

    [Fact]
    public async Task A_silo_in_cluster_mode_without_TLS_settings_refuses_to_start()
    {
        var env = new Dictionary<string, string>
        {
            ["Cluster__Clustering"] = "AzureTable",
            ["Cluster__ClusterId"] = "c" + Guid.NewGuid().ToString("N")[..8],
            ["Cluster__TablePrefix"] = TestEnvironment.UniqueTablePrefix(),
            ["Cluster__SiloPort"] = TestEnvironment.FreePort().ToString(),
            ["Cluster__GatewayPort"] = TestEnvironment.FreePort().ToString(),
            ["ConnectionStrings__Storage"] = TestEnvironment.StorageConnectionString,
            ["KUBECONFIG"] = _box.Emulator.KubeconfigPath,
        };
        using var silo = ServiceProcess.Start("silo-without-tls", "Silo", "Inference.Silo", env, "--urls", $"http://127.0.0.1:{TestEnvironment.FreePort()}");
        var exitCode = await silo.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.NotEqual(0, exitCode);
        Assert.Contains("Cluster__Tls__CertificatePath", silo.RecentOutput);
    }

    /// <summary>The intruder either fails to start (no gateway accepts it) or, should it start, no grain call
    /// succeeds. It gives up at the first refusal: Orleans' default is to retry for minutes.</summary>
    private async Task AssertRefused(Action<IClientBuilder>? security)
    {
        var failure = await Record.ExceptionAsync(async () =>
        {
            using var intruder = await _box.StartClientAsync(client =>
            {
                client.Services.AddSingleton<IClientConnectionRetryFilter, NoRetry>();
                security?.Invoke(client);
            });
            var client = intruder.Services.GetRequiredService<IClusterClient>();
            await client.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true);
        });
        // Refused at the connection, not failed by a mistake of the intruder's own configuration.
        Assert.IsType<Orleans.Runtime.Messaging.ConnectionFailedException>(failure);
        // The cluster itself is unharmed and still serves its own clients.
        Assert.Equal(2, (await _box.Client.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true)).Count);
    }

    private sealed class NoRetry : IClientConnectionRetryFilter
    {
        public Task<bool> ShouldRetryConnectionAttempt(Exception exception, CancellationToken cancellationToken) => Task.FromResult(false);
    }
}
