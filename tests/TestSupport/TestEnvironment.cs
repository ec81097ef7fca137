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

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
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
