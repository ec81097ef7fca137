using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace Inference.ApiHost.Auth;

/// <summary>The external identity system's keys (Auth:Jwks, a file or an https URL) through the identity library's
/// ConfigurationManager: read on first use, re-read periodically and when a token names a key not yet seen, and the
/// last good set kept while a re-read fails, so a key rotation at the identity system needs no restart here.</summary>
public static class JwksConfiguration
{
    /// <summary>Soonest re-read after a token with an unknown key asked for one, so junk tokens cannot make this
    /// host fetch the JWKS on every request.</summary>
    public static readonly TimeSpan UnknownKeyRefreshInterval = TimeSpan.FromSeconds(30);

    public static ConfigurationManager<OpenIdConnectConfiguration> Manager(string source, AuthSettings settings)
    {
        IDocumentRetriever documents;
        if (Uri.TryCreate(source, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https")
        {
            if (uri.Scheme != "https")
            {
                throw new InvalidOperationException("Auth:Jwks must be an https URL or a file path.");
            }
            documents = new HttpDocumentRetriever { RequireHttps = true };
        }
        else
        {
            documents = new FileDocumentRetriever();
        }
        if (settings.JwksRefreshInterval < ConfigurationManager<OpenIdConnectConfiguration>.MinimumAutomaticRefreshInterval)
        {
            throw new InvalidOperationException($"Auth:JwksRefreshInterval must be at least {ConfigurationManager<OpenIdConnectConfiguration>.MinimumAutomaticRefreshInterval}.");
        }
        return new ConfigurationManager<OpenIdConnectConfiguration>(source, new Retriever(settings.Issuer), documents)
        {
            AutomaticRefreshInterval = settings.JwksRefreshInterval,
            RefreshInterval = UnknownKeyRefreshInterval,
        };
    }

    /// <summary>A bare JWKS document as the configuration the JWT handler reads keys (and the issuer) from.</summary>
    private sealed class Retriever(string issuer) : IConfigurationRetriever<OpenIdConnectConfiguration>
    {
        public async Task<OpenIdConnectConfiguration> GetConfigurationAsync(string address, IDocumentRetriever retriever, CancellationToken cancel)
        {
            var keys = new JsonWebKeySet(await retriever.GetDocumentAsync(address, cancel)).GetSigningKeys();
            if (keys.Count == 0)
            {
                throw new InvalidOperationException($"Auth:Jwks ({address}) holds no signing keys.");
            }
            var configuration = new OpenIdConnectConfiguration { Issuer = issuer };
            foreach (var key in keys)
            {
                configuration.SigningKeys.Add(key);
            }
            return configuration;
        }
    }
}
