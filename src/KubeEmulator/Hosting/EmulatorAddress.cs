using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace KubeEmulator.Hosting;

/// <summary>
/// The address clients on this machine can reach the emulator at. Known only once Kestrel has bound
/// (the port may be 0 = random), so it is read from the server on demand.
/// </summary>
internal sealed class EmulatorAddress(IServer server)
{
    public string BaseUrl
    {
        get
        {
            var bound = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
                ?? throw new InvalidOperationException("The emulator is not listening yet; call StartAsync first.");
            var uri = new Uri(bound.Replace("://+", "://0.0.0.0").Replace("://*", "://0.0.0.0"));
            // Wildcard bindings are reachable through loopback; advertise an address clients can actually dial.
            var host = uri.Host is "0.0.0.0" or "[::]" or "::" or "localhost" ? "127.0.0.1" : uri.Host;
            return $"{uri.Scheme}://{host}:{uri.Port}";
        }
    }
}
