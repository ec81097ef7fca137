using System.Net;
using System.Net.Sockets;

namespace Inference.TestSupport;

public static class TestEnvironment
{
    /// <summary>Azurite started by `./box test` on its own ports; a plain `dotnet test` falls back to the default
    /// Azurite ports of a running `./box up`.</summary>
    public static string StorageConnectionString =>
        Environment.GetEnvironmentVariable("TEST_STORAGE_CONNECTION_STRING") is { Length: > 0 } s ? s : "UseDevelopmentStorage=true";

    /// <summary>Table-name prefix unique to one test run, so runs never see each other's grains or membership.</summary>
    public static string UniqueTablePrefix() => "t" + Guid.NewGuid().ToString("N")[..10];

    private static readonly HashSet<int> HandedOut = [];

    /// <summary>A free loopback port below the kernel's ephemeral range: tests stage an outage by stopping a service
    /// and starting it again on its port, and a port of that range can meanwhile become the local end of any outgoing
    /// connection (the other services' retries among them), so the restart could not listen on it.</summary>
    public static int FreePort()
    {
        var below = EphemeralRangeStart();
        lock (HandedOut)
        {
            for (var attempt = 0; below > FirstPort + 500 && attempt < 1000; attempt++)
            {
                var port = Random.Shared.Next(FirstPort, below);
                if (HandedOut.Contains(port) || !Bindable(port))
                {
                    continue;
                }
                HandedOut.Add(port);
                return port;
            }
        }
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Above the fixed ports of the box (its API, Azurite's, its cluster's silos) and the range Orleans' test
    /// clusters take their silos' ports from.</summary>
    private const int FirstPort = 30100;

    private static int EphemeralRangeStart()
    {
        try
        {
            var range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            return int.Parse(range[0], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return 32768;
        }
    }

    private static bool Bindable(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Actors.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("Actors.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>Polls until the condition holds; for waiting on asynchronous effects without timed assertions.</summary>
    public static async Task<T> Eventually<T>(Func<Task<T>> probe, Func<T, bool> done, TimeSpan? timeout = null, string? what = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        T last;
        while (true)
        {
            last = await probe();
            if (done(last))
            {
                return last;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Gave up waiting for {what ?? "a condition"}; last value: {last}");
            }
            await Task.Delay(200);
        }
    }
}
