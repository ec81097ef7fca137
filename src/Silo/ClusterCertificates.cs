using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Inference.Silo;

/// <summary>`Inference.Silo certs DIR`: a private CA and one node certificate for a box's cluster, with the file
/// names of a Kubernetes TLS Secret (ca.crt, tls.crt, tls.key). Made with .NET alone, so a fresh machine needs
/// no openssl and downloads nothing. The CA's key is never written: to admit another node, generate anew.</summary>
public static class ClusterCertificates
{
    public const string CaFile = "ca.crt";
    public const string CertificateFile = "tls.crt";
    public const string KeyFile = "tls.key";

    private static readonly TimeSpan Lifetime = TimeSpan.FromDays(365);

    /// <summary>Renewal margin: a node certificate closer than this to its end is replaced.</summary>
    private static readonly TimeSpan RenewBefore = TimeSpan.FromDays(30);

    /// <summary>Writes a new CA and node certificate unless DIR already holds a usable set.</summary>
    /// <returns>True when new files were written.</returns>
    public static bool Ensure(string directory, TimeProvider clock)
    {
        var now = clock.GetUtcNow();
        if (IsUsable(directory, now))
        {
            return false;
        }
        Directory.CreateDirectory(directory);
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest($"CN=inference-management cluster CA {now:yyyy-MM-dd}", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        // The CA outlives its node certificate by the renewal margin, so a renewed node never outlives its issuer.
        using var ca = caRequest.CreateSelfSigned(now.AddMinutes(-5), now + Lifetime + RenewBefore);

        using var nodeKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var nodeRequest = new CertificateRequest("CN=inference-management node", nodeKey, HashAlgorithmName.SHA256);
        nodeRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        nodeRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        // Every node both accepts connections and dials: silos dial silos, API hosts dial gateways.
        nodeRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(System.Net.IPAddress.Loopback);
        nodeRequest.CertificateExtensions.Add(names.Build());
        nodeRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(nodeRequest.PublicKey, false));
        nodeRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        using var node = nodeRequest.Create(ca, now.AddMinutes(-5), now + Lifetime, RandomNumberGenerator.GetBytes(16));

        Write(Path.Combine(directory, KeyFile), nodeKey.ExportPkcs8PrivateKeyPem());
        Write(Path.Combine(directory, CertificateFile), node.ExportCertificatePem());
        Write(Path.Combine(directory, CaFile), ca.ExportCertificatePem());
        return true;
    }

    private static bool IsUsable(string directory, DateTimeOffset now)
    {
        try
        {
            using var node = X509Certificate2.CreateFromPemFile(Path.Combine(directory, CertificateFile), Path.Combine(directory, KeyFile));
            var trusted = new X509Certificate2Collection();
            trusted.ImportFromPemFile(Path.Combine(directory, CaFile));
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(trusted);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            chain.ChainPolicy.VerificationTime = (now + RenewBefore).UtcDateTime;
            return chain.Build(node);
        }
        catch (Exception e) when (e is CryptographicException or IOException)
        {
            return false;
        }
    }

    private static void Write(string path, string pem)
    {
        // Owner-only from creation: the key must never be readable by others, even briefly.
        File.Delete(path);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        using var stream = new FileStream(path, options);
        using var writer = new StreamWriter(stream);
        writer.Write(pem);
    }
}
