using System.Net;

namespace Inference.Api.Tests;

/// <summary>The Orleans Dashboard at /dashboard: admins only, its page, scripts and data API answering.</summary>
[Collection(ApiCollection.Name)]
public sealed class DashboardTests(ApiFixture api)
{
    public static TheoryData<string> Paths => ["/dashboard/", "/dashboard/index.html", "/dashboard/index.min.js", "/dashboard/DashboardCounters", "/dashboard/GrainTypes", "/dashboard/Trace"];

    [Theory]
    [MemberData(nameof(Paths))]
    public async Task Anonymous_callers_and_tenant_users_are_refused(string path)
    {
        await (await api.Client().GetAsync(path)).AssertError(HttpStatusCode.Unauthorized);
        await (await api.Tenant("tenant-a").GetAsync(path)).AssertError(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task An_admin_gets_the_page_its_script_and_the_silos_and_grain_types()
    {
        var admin = api.Admin();
        var page = await admin.GetAsync("/dashboard/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("index.min.js", await page.Content.ReadAsStringAsync());
        var script = await admin.GetAsync("/dashboard/index.min.js");
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
        Assert.True((await script.Content.ReadAsByteArrayAsync()).Length > 1000);

        // A grain the service owns is active (the tenant directory answers readiness probes and listings).
        (await api.Client().GetAsync("/ready")).EnsureSuccessStatusCode();
        var counters = await Inference.TestSupport.TestEnvironment.Eventually(
            async () => await (await admin.GetAsync("/dashboard/DashboardCounters")).AssertOk(),
            c => c["hosts"]?.AsArray().Count > 0 && c.ToJsonString().Contains("Inference.Grains", StringComparison.Ordinal),
            what: "the dashboard to show the silo and the service's grains");
        Assert.Contains("Active", counters["hosts"]!.ToJsonString());
        var types = await (await admin.GetAsync("/dashboard/GrainTypes")).AssertOk();
        Assert.Contains("Inference.Grains", types.ToJsonString());
    }
}
