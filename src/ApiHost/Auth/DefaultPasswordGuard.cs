using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Inference.ApiHost.Auth;

/// <summary>Stops the host when it listens beyond loopback while admin login still takes the default password:
/// "admin / password" is for a laptop, never for a network. Checked once the server has bound, on the addresses it
/// actually listens on, however they were configured (HOST and PORT, urls, ASPNETCORE_URLS, Kestrel endpoints).</summary>
public sealed class DefaultPasswordGuard(AuthSettings settings, IServer server) : IHostedLifecycleService
{
    public Task StartedAsync(CancellationToken cancellationToken)
    {
        if (!settings.UsesDefaultPassword)
        {
            return Task.CompletedTask;
        }
        var exposed = (server.Features.Get<IServerAddressesFeature>()?.Addresses ?? []).Where(a => !IsLoopback(a)).ToList();
        if (exposed.Count > 0)
        {
            throw new InvalidOperationException(
                $"Refusing to start: admin login uses the default password and the API listens on {string.Join(", ", exposed)}, beyond loopback. "
                + "Set ADMIN_PASSWORD or ADMIN_PASSWORD_HASH, or listen on 127.0.0.1 only (./box up does unless HOST is set).");
        }
        return Task.CompletedTask;
    }

    /// <summary>True for an address only this machine can reach; wildcards ("*", "+", 0.0.0.0, [::]) and names other
    /// than localhost are not.</summary>
    public static bool IsLoopback(string address)
    {
        var hostStart = address.IndexOf("://", StringComparison.Ordinal) is var s and >= 0 ? s + 3 : 0;
        var rest = address[hostStart..];
        var host = rest.StartsWith('[') ? rest[1..Math.Max(1, rest.IndexOf(']'))] : rest.Split(':', '/')[0];
        return host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
            || (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip));
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
