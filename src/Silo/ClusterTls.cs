using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Inference.Shared;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Connections.Security;

namespace Inference.Silo;

/// <summary>Section "Cluster:Tls": mutual TLS on the cluster's own connections (silo to silo, client to gateway).
/// Tenants run code inside the cluster by design, so these ports must admit only peers that hold a certificate
/// of this deployment.</summary>
public sealed class ClusterTlsOptions
{
    public const string Section = "Cluster:Tls";

    /// <summary>Cluster mode without TLS, for development only: anyone who reaches the ports is a member.</summary>
    public bool Disabled { get; set; }

    /// <summary>This node's certificate: PKCS#12 (.pfx, .p12) or PEM. It must allow both server and client
    /// authentication (a silo accepts connections and dials other silos).</summary>
    public string? CertificatePath { get; set; }

    /// <summary>The PEM private key, when <see cref="CertificatePath"/> is a PEM file without it.</summary>
    public string? KeyPath { get; set; }

    /// <summary>Password of a PKCS#12 file.</summary>
    public string? CertificatePassword { get; set; }

    /// <summary>PEM file with the issuer(s) a peer's certificate must chain to. The CA should be this
    /// deployment's own: every certificate it issues is admitted.</summary>
    public string? CaPath { get; set; }

    /// <summary>Peer certificates admitted by fingerprint (SHA-256 or SHA-1 hex, colons allowed). With
    /// <see cref="CaPath"/> too, a peer must satisfy both.</summary>
    public List<string> AllowedThumbprints { get; set; } = [];
}

/// <summary>The loaded certificates and the peer check both ends of every cluster connection apply.</summary>
public sealed class ClusterTlsMaterial : IDisposable
{
    private readonly X509Certificate2Collection _trusted;
    private readonly HashSet<string> _pins;

    private ClusterTlsMaterial(X509Certificate2 certificate, X509Certificate2Collection trusted, HashSet<string> pins)
    {
        Certificate = certificate;
        _trusted = trusted;
        _pins = pins;
    }

    public X509Certificate2 Certificate { get; }

    /// <summary>Loads what the options name; throws <see cref="InvalidDataException"/> saying what is wrong.</summary>
    public static ClusterTlsMaterial Load(ClusterTlsOptions options)
    {
        var path = options.CertificatePath ?? throw new InvalidDataException($"{ClusterTlsOptions.Section}:CertificatePath is not set");
        X509Certificate2 certificate;
        try
        {
            certificate = Path.GetExtension(path).ToLowerInvariant() is ".pfx" or ".p12"
                ? X509CertificateLoader.LoadPkcs12FromFile(path, options.CertificatePassword)
                : X509Certificate2.CreateFromPemFile(path, options.KeyPath);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"{ClusterTlsOptions.Section}: cannot load the certificate {path}: {e.Message}", e);
        }
        if (!certificate.HasPrivateKey)
        {
            certificate.Dispose();
            throw new InvalidDataException($"{ClusterTlsOptions.Section}: the certificate {path} comes without its private key (set KeyPath)");
        }
        var trusted = new X509Certificate2Collection();
        if (options.CaPath is { Length: > 0 } caPath)
        {
            try
            {
                trusted.ImportFromPemFile(caPath);
            }
            catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
            {
                certificate.Dispose();
                throw new InvalidDataException($"{ClusterTlsOptions.Section}: cannot load the CA file {caPath}: {e.Message}", e);
            }
            if (trusted.Count == 0)
            {
                certificate.Dispose();
                throw new InvalidDataException($"{ClusterTlsOptions.Section}: the CA file {caPath} holds no certificate");
            }
        }
        var pins = options.AllowedThumbprints.Select(Normalize).Where(t => t.Length > 0).ToHashSet(StringComparer.Ordinal);
        if (trusted.Count == 0 && pins.Count == 0)
        {
            certificate.Dispose();
            throw new InvalidDataException($"{ClusterTlsOptions.Section}: set CaPath or AllowedThumbprints, or no peer could be verified");
        }
        return new ClusterTlsMaterial(certificate, trusted, pins);
    }

    /// <summary>A peer is admitted when it presents a certificate that chains to the configured CA (and, when
    /// fingerprints are configured, is one of them). Host names are not checked: silos dial each other by IP.</summary>
    public bool IsTrustedPeer(X509Certificate2 certificate, X509Chain? presented, SslPolicyErrors errors)
    {
        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            return false;
        }
        if (_pins.Count > 0
            && !_pins.Contains(certificate.GetCertHashString(HashAlgorithmName.SHA256))
            && !_pins.Contains(certificate.GetCertHashString(HashAlgorithmName.SHA1)))
        {
            return false;
        }
        if (_trusted.Count == 0)
        {
            return true;
        }
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_trusted);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (presented is not null)
        {
            // Intermediates the peer sent, so a leaf issued below the configured root still chains to it.
            foreach (var element in presented.ChainElements.Skip(1))
            {
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }
        return chain.Build(certificate);
    }

    private static string Normalize(string thumbprint) =>
        new string(thumbprint.Where(char.IsAsciiHexDigit).ToArray()).ToUpperInvariant();

    public void Dispose()
    {
        Certificate.Dispose();
        foreach (var certificate in _trusted)
        {
            certificate.Dispose();
        }
    }
}

/// <summary>Refuses to start a cluster node whose TLS settings are missing or unusable, before it opens a port.</summary>
public static class ClusterTlsCheck
{
    /// <param name="required">Cluster mode: no start without a certificate unless TLS is explicitly disabled.</param>
    public static string? Problem(ClusterTlsOptions options, bool required)
    {
        if (options.Disabled)
        {
            return null;
        }
        if (string.IsNullOrEmpty(options.CertificatePath))
        {
            return required
                ? "Cluster mode needs TLS between silos and clients: set Cluster__Tls__CertificatePath and Cluster__Tls__CaPath (./box cluster generates them into .box/certs), or Cluster__Tls__Disabled=true for development only."
                : null;
        }
        try
        {
            using var _ = ClusterTlsMaterial.Load(options);
            return null;
        }
        catch (InvalidDataException e)
        {
            return e.Message;
        }
    }
}

public static class ClusterTls
{
    /// <summary>Mutual TLS on a silo's silo and gateway ports and on its connections to other silos.</summary>
    /// <param name="required">Cluster mode: no start without a certificate unless TLS is explicitly disabled.</param>
    public static ISiloBuilder UseClusterTls(this ISiloBuilder silo, bool required)
    {
        Register(silo.Services, required);
        silo.Services.AddOptions<SiloConnectionOptions>().Configure<ClusterTlsState>((connections, tls) =>
        {
            if (tls.Options is not { } options)
            {
                return;
            }
            connections.ConfigureSiloInboundConnection(c => c.UseServerTls(options));
            connections.ConfigureGatewayInboundConnection(c => c.UseServerTls(options));
            connections.ConfigureSiloOutboundConnection(c => c.UseClientTls(options));
        });
        return silo;
    }

    /// <summary>Mutual TLS on a client's connections to the silos' gateways.</summary>
    public static IClientBuilder UseClusterTls(this IClientBuilder client, bool required)
    {
        Register(client.Services, required);
        client.Services.AddOptions<ClientConnectionOptions>().Configure<ClusterTlsState>((connections, tls) =>
        {
            if (tls.Options is { } options)
            {
                connections.ConfigureConnection(c => c.UseClientTls(options));
            }
        });
        return client;
    }

    private static void Register(IServiceCollection services, bool required)
    {
        services.AddSettings<ClusterTlsOptions>(ClusterTlsOptions.Section, o => ClusterTlsCheck.Problem(o, required));
        services.AddSingleton<ClusterTlsState>();
    }
}

/// <summary>Orleans' TLS settings built once from the validated options; none when TLS is off.</summary>
public sealed class ClusterTlsState : IDisposable
{
    private readonly ClusterTlsMaterial? _material;

    public ClusterTlsState(IOptions<ClusterTlsOptions> options, ILogger<ClusterTlsState> logger)
    {
        var settings = options.Value;
        if (settings.Disabled || string.IsNullOrEmpty(settings.CertificatePath))
        {
            if (settings.Disabled)
            {
                logger.LogWarning("TLS between silos and clients is DISABLED ({Section}:Disabled): any process that reaches the silo and gateway ports can join or call the cluster. Development only.", ClusterTlsOptions.Section);
            }
            return;
        }
        var material = ClusterTlsMaterial.Load(settings);
        _material = material;
        Options = new TlsOptions
        {
            LocalCertificate = material.Certificate,
            RemoteCertificateMode = RemoteCertificateMode.RequireCertificate,
            ClientCertificateMode = RemoteCertificateMode.RequireCertificate,
            RemoteCertificateValidation = material.IsTrustedPeer,
        };
    }

    public TlsOptions? Options { get; }

    public void Dispose() => _material?.Dispose();
}
