using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using Inference.ApiHost.Http;

namespace Inference.Api.Tests;

/// <summary>The Scalar reference at /docs: served from this host alone (users may have no internet), under its own
/// Content-Security-Policy, and it renders the document's operations in a real browser (headless Chromium).</summary>
[Collection(ApiCollection.Name)]
public sealed partial class ApiReferencePageTests(ApiFixture api)
{
    [GeneratedRegex("""(?:src|href)\s*=\s*["']([^"']+)["']""")]
    private static partial Regex References();

    [Fact]
    public async Task The_page_loads_nothing_from_elsewhere_and_carries_its_policy()
    {
        var client = api.Client();
        var response = await client.GetAsync("/docs");
        var html = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {html}");
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(ApiReference.PageContentSecurityPolicy, string.Join(";", response.Headers.GetValues("Content-Security-Policy")));
        var references = References().Matches(html).Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(references);
        Assert.DoesNotContain(references, r => r.Contains("//", StringComparison.Ordinal));
        // Scalar's own CDN and web fonts are off; nothing in the page names another host.
        Assert.DoesNotContain("cdn.jsdelivr", html);
        Assert.DoesNotContain("fonts.scalar.com", html);
        foreach (var reference in references.Where(r => r.EndsWith(".js", StringComparison.Ordinal)))
        {
            var asset = await client.GetAsync(new Uri(response.RequestMessage!.RequestUri!, reference));
            Assert.True(asset.StatusCode == HttpStatusCode.OK, $"{reference}: {(int)asset.StatusCode}");
            Assert.True((await asset.Content.ReadAsByteArrayAsync()).Length > 1000, $"{reference} is empty");
        }
    }

    /// <summary>Needs <c>chromium</c> on the PATH (Debian's package; <c>./box test</c> installs it) or its path in
    /// <c>CHROMIUM</c>.</summary>
    [Fact]
    public async Task The_page_renders_the_operations_in_headless_chromium()
    {
        var chromium = Environment.GetEnvironmentVariable("CHROMIUM") is { Length: > 0 } configured ? configured
            : (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, "chromium")).FirstOrDefault(File.Exists);
        Assert.True(chromium is not null, "chromium is not installed: apt-get install -y chromium (./box test does), or set CHROMIUM to its path");
        var profile = Directory.CreateTempSubdirectory("chromium-");
        try
        {
            var start = new ProcessStartInfo(chromium)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                ArgumentList =
                {
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                    $"--user-data-dir={profile.FullName}",
                    // Lets the page's scripts fetch the document and render before the DOM is dumped.
                    "--virtual-time-budget=15000", "--dump-dom", new Uri(api.BaseAddress, "/docs").ToString(),
                },
            };
            using var process = Process.Start(start)!;
            var dom = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEndAsync();
            using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            await process.WaitForExitAsync(guard.Token);
            var text = await dom;
            Assert.True(process.ExitCode == 0, $"chromium exited with {process.ExitCode}: {await errors}");
            // The title, description and tags come from /openapi/v1.json, fetched and rendered by the page's script
            // (the served HTML holds none of them).
            Assert.Contains("Inference-in-a-Box management service", text);
            Assert.Contains("Authenticated requests count against the caller", text);
            Assert.Contains("Key validation", text);
            Assert.Contains("Publishing", text);
        }
        finally
        {
            profile.Delete(recursive: true);
        }
    }
}
