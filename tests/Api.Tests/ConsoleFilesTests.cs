using System.Net;

namespace Inference.Api.Tests;

/// <summary>The web console's files at / and /assets/: caching, the Content-Security-Policy, and that other routes'
/// headers are left alone.</summary>
[Collection(ApiCollection.Name)]
public class ConsoleFilesTests(ApiFixture fixture)
{
    public const string Script = "index-T3st1ng.js";

    /// <summary>A console build as Vite writes one: index.html plus content-hashed files under assets/.</summary>
    public static string CreateBuild()
    {
        var root = Path.Combine(Path.GetTempPath(), $"console-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path.Combine(root, "assets"));
        File.WriteAllText(Path.Combine(root, "index.html"), $"<!doctype html><html><head><script type=\"module\" src=\"/assets/{Script}\"></script></head><body><div id=\"root\"></div></body></html>");
        File.WriteAllText(Path.Combine(root, "assets", Script), "console.log('console');");
        return root;
    }

    [Fact]
    public async Task Index_is_never_cached_and_carries_a_strict_policy()
    {
        var response = await fixture.Client().GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(Script, await response.Content.ReadAsStringAsync());
        Assert.True(response.Headers.CacheControl?.NoStore, "index.html must not be cached: it names the current hashed assets");
        var policy = string.Join(";", response.Headers.GetValues("Content-Security-Policy"));
        var directives = policy.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .ToDictionary(d => d.Split(' ')[0], d => d.Split(' ').Skip(1).ToArray());
        Assert.Equal(["'self'"], directives["script-src"]);
        Assert.DoesNotContain("'unsafe-inline'", policy);
        Assert.DoesNotContain("'unsafe-eval'", policy);
        Assert.Equal(["'none'"], directives["default-src"]);
        Assert.Equal(["'none'"], directives["frame-ancestors"]);
        var host = fixture.BaseAddress.Authority;
        Assert.Equal(["'self'", $"ws://{host}", $"wss://{host}"], directives["connect-src"]);
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
    }

    [Fact]
    public async Task Hashed_assets_are_cached_as_immutable()
    {
        var response = await fixture.Client().GetAsync($"/assets/{Script}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(response.Headers.CacheControl?.Public);
        Assert.Equal(TimeSpan.FromDays(365), response.Headers.CacheControl?.MaxAge);
        Assert.Contains("immutable", response.Headers.CacheControl!.Extensions.Select(e => e.Name));
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
    }

    [Fact]
    public async Task A_missing_asset_is_the_contracts_404_and_the_api_keeps_its_own_headers()
    {
        var missing = await fixture.Client().GetAsync("/assets/index-missing.js");
        await missing.AssertError(HttpStatusCode.NotFound);

        var api = await fixture.Tenant("console-tenant").GetAsync("/api/models");
        Assert.Equal(HttpStatusCode.OK, api.StatusCode);
        Assert.False(api.Headers.Contains("Content-Security-Policy"), "the console's policy belongs to its own responses");
        Assert.Null(api.Headers.CacheControl?.MaxAge);
    }

    [Fact]
    public async Task A_host_header_that_is_not_a_plain_host_is_not_copied_into_the_policy()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.TryAddWithoutValidation("Host", "evil.test:1;script-src *");
        var response = await fixture.Client().SendAsync(request);
        if (response.StatusCode == HttpStatusCode.OK)
        {
            var policy = string.Join(";", response.Headers.GetValues("Content-Security-Policy"));
            Assert.DoesNotContain("evil", policy);
            Assert.DoesNotContain("script-src *", policy);
        }
        else
        {
            // Kestrel refusing the malformed Host header outright is as good.
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        }
    }
}
