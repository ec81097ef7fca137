using System.Text.RegularExpressions;
using Inference.ApiHost.WebConsole;
using Inference.TestSupport;

namespace Inference.Api.Tests;

/// <summary>src/ApiHost/Dockerfile read without a container engine: the image builds the web console from the
/// lockfile and puts the build where the API host serves it from.</summary>
public sealed partial class ApiHostDockerfileTests
{
    private sealed record Instruction(string Keyword, string Arguments, string Workdir);

    private sealed record Stage(string? Name, List<Instruction> Instructions);

    [Fact]
    public void The_image_builds_the_console_with_npm_ci_and_copies_it_to_the_folder_the_api_host_serves()
    {
        var root = TestEnvironment.RepoRoot();
        var stages = Stages(File.ReadAllText(Path.Combine(root, "src", "ApiHost", "Dockerfile")));

        // The console stage: the lockfile is in place before `npm ci` installs from it, then Vite builds.
        var console = Assert.Single(stages, s => s.Instructions.Any(i => i.Keyword == "RUN" && i.Arguments.StartsWith("npm ci", StringComparison.Ordinal)));
        Assert.NotNull(console.Name);
        var steps = console.Instructions;
        var install = steps.FindIndex(i => i.Keyword == "RUN" && i.Arguments.StartsWith("npm ci", StringComparison.Ordinal));
        Assert.Contains(steps.Take(install), i => i.Keyword == "COPY" && i.Arguments.Split(' ').Contains("src/Console/package-lock.json"));
        var build = steps.FindIndex(i => i.Keyword == "RUN" && i.Arguments == "npm run build");
        Assert.True(build > install, "the console stage runs `npm run build` after `npm ci`");
        Assert.Contains(steps.Take(build), i => i.Keyword == "COPY" && i.Arguments.Split(' ')[0] == "src/Console/");
        var outDir = OutDir().Match(File.ReadAllText(Path.Combine(root, "src", "Console", "vite.config.ts"))).Groups["dir"].Value;
        var dist = Resolve(steps[build].Workdir, outDir);

        // The image that runs: the console stage's build copied to console/ beside the API host's binaries.
        var final = stages[^1].Instructions;
        var entry = Assert.Single(final, i => i.Keyword == "ENTRYPOINT");
        var dll = Regex.Match(entry.Arguments, "\"(?<dll>[^\"]*Inference\\.ApiHost\\.dll)\"").Groups["dll"].Value;
        Assert.NotEmpty(dll);
        var binaries = Path.GetDirectoryName(Resolve(entry.Workdir, dll))!.Replace('\\', '/');
        var copy = Assert.Single(final, i => i.Keyword == "COPY" && i.Arguments.StartsWith($"--from={console.Name} ", StringComparison.Ordinal));
        var parts = copy.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(dist, Resolve(steps[build].Workdir, parts[1]));
        Assert.Equal($"{binaries}/{ConsoleFiles.Folder}", Resolve(copy.Workdir, parts[2]));

        // A local build of the console never reaches the build context in its place.
        var ignored = File.ReadAllLines(Path.Combine(root, ".dockerignore")).Select(l => l.Trim().TrimEnd('/'));
        Assert.Contains("src/Console/dist", ignored);
        Assert.Contains("**/node_modules", ignored);
    }

    /// <summary>The Dockerfile's stages, each instruction with the WORKDIR it runs in (continuation lines joined,
    /// comments left out).</summary>
    private static List<Stage> Stages(string dockerfile)
    {
        var stages = new List<Stage>();
        var workdirs = new Dictionary<string, string>();
        var workdir = "/";
        var joined = Regex.Replace(dockerfile, @"\\\r?\n", " ");
        foreach (var raw in joined.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }
            var space = line.IndexOf(' ');
            var keyword = line[..space].ToUpperInvariant();
            var arguments = Regex.Replace(line[(space + 1)..].Trim(), @"\s+", " ");
            if (keyword == "FROM")
            {
                var from = FromLine().Match(arguments);
                var image = from.Groups["image"].Value;
                // A stage built on an earlier one starts in that one's WORKDIR.
                workdir = workdirs.GetValueOrDefault(image, "/");
                var name = from.Groups["stage"].Success ? from.Groups["stage"].Value : null;
                stages.Add(new Stage(name, []));
                continue;
            }
            if (keyword == "WORKDIR")
            {
                workdir = Resolve(workdir, arguments);
                if (stages[^1].Name is { } stage)
                {
                    workdirs[stage] = workdir;
                }
            }
            stages[^1].Instructions.Add(new Instruction(keyword, arguments, workdir));
        }
        return stages;
    }

    /// <summary>A path inside the image, as Docker resolves it against the WORKDIR (no trailing slash).</summary>
    private static string Resolve(string workdir, string path)
    {
        var segments = new List<string>();
        foreach (var segment in (path.StartsWith('/') ? path : $"{workdir}/{path}").Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (segment == "..")
            {
                if (segments.Count > 0)
                {
                    segments.RemoveAt(segments.Count - 1);
                }
            }
            else if (segment != ".")
            {
                segments.Add(segment);
            }
        }
        return "/" + string.Join('/', segments);
    }

    [GeneratedRegex(@"^(--platform=\S+\s+)?(?<image>\S+)(\s+AS\s+(?<stage>\S+))?$", RegexOptions.IgnoreCase)]
    private static partial Regex FromLine();

    [GeneratedRegex(@"outDir:\s*'(?<dir>[^']+)'")]
    private static partial Regex OutDir();
}
