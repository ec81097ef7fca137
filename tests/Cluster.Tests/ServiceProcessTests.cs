using Inference.TestSupport;

namespace Inference.Cluster.Tests;

public sealed class ServiceProcessTests
{
    [Fact]
    public async Task Services_started_from_the_repository_root_do_not_watch_its_files()
    {
        await using var box = await BoxCluster.StartAsync(silos: 1, apiHosts: 1);

        // Configuration reload watches the content root with one inotify watch per directory below it. Were that the
        // working directory (the repository, for ./box), each process would hold thousands (node_modules, bin, obj,
        // .box where Azurite writes), woken by every file written there, and a few processes could exhaust the
        // per-user limit.
        var directories = Directory.EnumerateDirectories(TestEnvironment.RepoRoot(), "*", SearchOption.AllDirectories).Count();
        Assert.True(directories > 100, $"the repository has only {directories} directories: the comparison below would prove nothing");
        foreach (var process in box.Silos.Select(s => s.Process).Concat(box.ApiHosts.Select(a => a.Process)))
        {
            Assert.True(process.InotifyWatches < 50, $"{process.Name} holds {process.InotifyWatches} inotify watches ({directories} directories in the repository)");
        }
    }
}
