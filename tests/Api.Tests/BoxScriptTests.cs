using System.Diagnostics;
using System.Text;
using Inference.ApiHost.Auth;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Inference.Api.Tests;

/// <summary>The <c>box</c> script's secret and address handling, driven through bash: the script is sourced (which
/// defines its functions without running a command) with its state directory moved to a temporary one, so the
/// repository's own .box is never touched.</summary>
public sealed class BoxScriptTests : IDisposable
{
    private readonly string _boxDir = Directory.CreateTempSubdirectory("box-script-test").FullName;

    public void Dispose() => Directory.Delete(_boxDir, recursive: true);

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "box")) && File.Exists(Path.Combine(dir.FullName, "Actors.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("repository root not found above " + AppContext.BaseDirectory);
    }

    /// <summary>Runs SCRIPT after sourcing box, with BOX_DIR moved; returns stdout (fails the test on a non-zero exit).</summary>
    private async Task<string> Bash(string script, IDictionary<string, string?>? environment = null, string? stdin = null)
    {
        var (exitCode, output, error) = await BashResult(script, environment, stdin);
        Assert.True(exitCode == 0, $"bash exited {exitCode}: {error}");
        return output;
    }

    private async Task<(int ExitCode, string Output, string Error)> BashResult(string script, IDictionary<string, string?>? environment = null, string? stdin = null)
    {
        var start = new ProcessStartInfo("bash", ["-c", $"source ./box && BOX_DIR=\"$TEST_BOX_DIR\" && CONFIG=Debug && {script}"])
        {
            WorkingDirectory = RepositoryRoot(),
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        start.Environment.Remove("JWT_SECRET");
        start.Environment.Remove("HOST");
        start.Environment["TEST_BOX_DIR"] = _boxDir;
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }
        using var process = Process.Start(start)!;
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, (await output).Trim(), (await error).Trim());
    }

    private static readonly Dictionary<string, string?> NoPortSettings = new() { ["PORT"] = null, ["KUBE_EMULATOR_PORT"] = null, ["KUBECONFIG"] = null, ["KeyValidation__Port"] = null };

    [Fact]
    public async Task Cluster_layout_with_two_api_hosts_gives_every_listener_its_own_port()
    {
        var layout = (await Bash("cluster_layout 2 2 && printf '%s\\n' \"${LAYOUT[@]}\"", NoPortSettings))
            .Split('\n').Select(l => l.Split('=')).ToDictionary(p => p[0], p => int.Parse(p[1]));
        Assert.Equal(layout.Count, layout.Values.Distinct().Count());
        Assert.Equal(8086, layout["kube-emulator"]);
        Assert.Equal(8085, layout["apihost-0"]);
        Assert.NotEqual(8086, layout["apihost-1"]);
        Assert.Contains("silo-1-gateway", layout.Keys);

        // As many API hosts as the box allows, beside as many silos: still no port twice.
        var many = (await Bash("cluster_layout 99 99 && printf '%s\\n' \"${LAYOUT[@]}\"", NoPortSettings)).Split('\n');
        Assert.Equal(many.Length, many.Select(l => l.Split('=')[1]).Distinct().Count());
    }

    [Fact]
    public async Task Cluster_layout_with_metrics_gives_every_process_its_own_metrics_port()
    {
        var withMetrics = new Dictionary<string, string?>(NoPortSettings) { ["METRICS_PORT"] = "8089" };
        var output = (await Bash("""
            cluster_layout 3 2 && printf '%s\n' "${LAYOUT[@]}" && echo "silos=${SILO_METRICS_PORTS[*]}" && echo "apis=${API_METRICS_PORTS[*]}"
            """, withMetrics)).Split('\n');
        var layout = output.Where(l => !l.StartsWith("silos=", StringComparison.Ordinal) && !l.StartsWith("apis=", StringComparison.Ordinal)).Select(l => l.Split('='))
            .ToDictionary(p => p[0], p => int.Parse(p[1]));
        Assert.Equal(layout.Count, layout.Values.Distinct().Count());
        int[] Ports(string prefix) => [.. output.Single(l => l.StartsWith(prefix, StringComparison.Ordinal))[prefix.Length..].Split(' ').Select(int.Parse)];
        var silos = Ports("silos=");
        var apis = Ports("apis=");
        // The first is METRICS_PORT; the next ones step over the silos' HTTP ports (8090-8092).
        Assert.Equal([8089, 8093, 8094, 8095, 8096], [.. silos, .. apis]);
        Assert.Equal(3, silos.Length);
        Assert.Equal(silos[1], layout["silo-1-metrics"]);
        Assert.Equal(apis[1], layout["apihost-1-metrics"]);

        // Without METRICS_PORT there are none, and METRICS_PORT on another listener's port is refused before start.
        Assert.Equal("0 0", await Bash("""cluster_layout 2 2 && echo "${#SILO_METRICS_PORTS[@]} ${#API_METRICS_PORTS[@]}" """, NoPortSettings));
        var onApi = await BashResult("cluster_layout 2 2", new Dictionary<string, string?>(NoPortSettings) { ["METRICS_PORT"] = "8085" });
        Assert.NotEqual(0, onApi.ExitCode);
        Assert.Contains("port 8085 is wanted by both apihost-0 and metrics", onApi.Error);
        var up = await BashResult("distinct_ports apihost=8085 metrics=8085");
        Assert.Contains("port 8085 is wanted by both apihost and metrics; move one (PORT, KUBE_EMULATOR_PORT, METRICS_PORT, KeyValidation__Port)", up.Error);
    }

    [Fact]
    public async Task Cluster_layout_gives_every_api_host_a_key_validation_port_of_its_own()
    {
        async Task<(Dictionary<string, int> Layout, int[] Validation)> Layout(Dictionary<string, string?> environment)
        {
            var output = (await Bash("""cluster_layout 2 2 && printf '%s\n' "${LAYOUT[@]}" && echo "validation=${VALIDATION_PORTS[*]}" """, environment)).Split('\n');
            var validation = output.Single(l => l.StartsWith("validation=", StringComparison.Ordinal))["validation=".Length..].Split(' ').Select(int.Parse).ToArray();
            var layout = output.Where(l => !l.StartsWith("validation=", StringComparison.Ordinal)).Select(l => l.Split('='))
                .ToDictionary(p => p[0], p => int.Parse(p[1]));
            return (layout, validation);
        }

        // Default: the first next to the API's 8085 (below it: the emulator has 8086), the next one on a port the layout
        // leaves free; every listener still has a port of its own.
        var (layout, validation) = await Layout(new(NoPortSettings) { ["KeyValidation__Port"] = null });
        Assert.Equal(8084, validation[0]);
        Assert.Equal(2, validation.Length);
        Assert.Equal([layout["apihost-0-validation"], layout["apihost-1-validation"]], validation);
        Assert.Equal(layout.Count, layout.Values.Distinct().Count());

        // Overridden by KeyValidation__Port (the API host's own variable); on another listener's port, refused before start.
        (_, validation) = await Layout(new(NoPortSettings) { ["KeyValidation__Port"] = "9100" });
        Assert.Equal(new[] { 9100, 9101 }, validation);
        var onApi = await BashResult("cluster_layout 2 2", new Dictionary<string, string?>(NoPortSettings) { ["KeyValidation__Port"] = "8085" });
        Assert.NotEqual(0, onApi.ExitCode);
        Assert.Contains("port 8085 is wanted by both apihost-0 and apihost-0-validation", onApi.Error);
    }

    [Fact]
    public async Task Cluster_api_hosts_listen_where_the_summary_says_on_their_own_ports()
    {
        async Task<string[]> Listeners(Dictionary<string, string?> environment) =>
            (await Bash("""cluster_layout 1 2 && cluster_api_listeners 1 && printf '%s\n' "${API_LISTENERS[@]}" """, environment)).Split('\n');

        // Loopback unless HOST says otherwise, as ./box up: the summary calls the box "this machine only".
        var second = await Listeners(new(NoPortSettings) { ["HOST"] = null });
        Assert.Contains("HOST=127.0.0.1", second);
        var layout = (await Bash("""cluster_layout 1 2 && printf '%s\n' "${LAYOUT[@]}" """, new Dictionary<string, string?>(NoPortSettings) { ["HOST"] = null }))
            .Split('\n').Select(l => l.Split('=')).ToDictionary(p => p[0], p => p[1]);
        Assert.Contains($"PORT={layout["apihost-1"]}", second);
        Assert.Contains($"KeyValidation__Port={layout["apihost-1-validation"]}", second);
        Assert.Contains("HOST=0.0.0.0", await Listeners(new(NoPortSettings) { ["HOST"] = "0.0.0.0" }));
    }

    /// <summary>Runs ./box up or ./box cluster with every step that builds, starts or waits replaced by a stand-in;
    /// returns what each process would have been started with (name, then its command line), one line each.</summary>
    private async Task<string[]> Started(string command, Dictionary<string, string?> environment)
    {
        var script = $$"""
            LOG_DIR="$BOX_DIR/logs" && rm -f "$BOX_DIR/started"
            require_tools() { :; }; ensure_node_modules() { :; }; ensure_built() { :; }; require_free_ports() { :; }
            install_traps() { :; }; start_azurite() { :; }; start_kubernetes() { KUBECONFIG="$BOX_DIR/kubeconfig"; }
            ensure_cluster_certs() { CLUSTER_TLS_ENV=(); }; wait_until() { :; }; follow_log() { :; }; supervise() { :; }
            start() { printf '%s\n' "$1 ${*:3} " >>"$BOX_DIR/started"; STARTED_PIDS+=(0); STARTED_NAMES+=("$1"); }
            {{command}} >/dev/null && cat "$BOX_DIR/started"
            """;
        // The test's own settings, never the environment's (the caller's gateway settings, when it names them).
        var gatewaySettings = new Dictionary<string, string?>(environment);
        gatewaySettings.TryAdd("Gateway__AuthServicePort", null);
        gatewaySettings.TryAdd("Gateway__AuthServiceFallbackPort", null);
        return (await Bash(script, gatewaySettings)).Split('\n');
    }

    [Fact]
    public async Task The_box_s_security_policies_name_the_key_validation_port_with_the_api_port_as_fallback_as_the_chart()
    {
        static void NamesPorts(string line, int validation, int api)
        {
            Assert.Contains($" Gateway__AuthServicePort={validation} ", line);
            Assert.Contains($" Gateway__AuthServiceFallbackPort={api} ", line);
        }

        // Embedded: the API host co-hosts the silo that writes the policies.
        var up = await Started("cmd_up", new(NoPortSettings) { ["ADMIN_PASSWORD"] = null });
        NamesPorts(up.Single(l => l.StartsWith("apihost ", StringComparison.Ordinal)), 8084, 8085);
        up = await Started("cmd_up", new(NoPortSettings) { ["PORT"] = "9200", ["KeyValidation__Port"] = "9100" });
        NamesPorts(up.Single(l => l.StartsWith("apihost ", StringComparison.Ordinal)), 9100, 9200);
        // Policies pointed at the API port by hand have no fallback (the silos refuse one equal to the auth port).
        up = await Started("cmd_up", new(NoPortSettings) { ["Gateway__AuthServicePort"] = "8085" });
        var pointed = up.Single(l => l.StartsWith("apihost ", StringComparison.Ordinal));
        Assert.Contains(" Gateway__AuthServicePort=8085 ", pointed);
        Assert.Contains(" Gateway__AuthServiceFallbackPort= ", pointed);

        // Cluster: every silo names the first API host's ports (one Service port each, as in the chart).
        var cluster = await Started("cmd_cluster 2 2", new(NoPortSettings) { ["ADMIN_PASSWORD"] = "not-the-default" });
        var silos = cluster.Where(l => l.StartsWith("silo-", StringComparison.Ordinal)).ToArray();
        Assert.Equal(2, silos.Length);
        Assert.Equal(2, cluster.Count(l => l.StartsWith("apihost-", StringComparison.Ordinal)));
        foreach (var silo in silos)
        {
            NamesPorts(silo, 8084, 8085);
        }
    }

    [Fact]
    public async Task Cluster_supervision_reports_a_dead_silo_restarts_it_and_keeps_the_rest_running()
    {
        // Stand-ins: a silo that dies at once (and again after each restart), an API host that lives a few seconds.
        const string script = """
            LOG_DIR="$BOX_DIR/logs"
            again() { start "$1" "$LOG_DIR/$1.log" bash -c 'exit 4'; }
            start silo-0 "$LOG_DIR/silo-0.log" bash -c 'exit 3'
            start apihost-0 "$LOG_DIR/apihost-0.log" bash -c 'sleep 4; echo api-done'
            supervise 'silo-*' again
            """;
        var (exitCode, _, error) = await BashResult(script, new Dictionary<string, string?> { ["BOX_RESTART_DELAY"] = "1" });
        Assert.NotEqual(0, exitCode);
        Assert.Matches(@"silo-0 \(pid \d+\) exited \(code 3\); the other processes keep running", error);
        Assert.Contains("restarting silo-0 in 1 s", error);
        Assert.Matches(@"silo-0 \(pid \d+\) exited \(code 4\)", error);
        // The API host was not stopped for the silo's sake: it ran to its own end, which the box then reports.
        Assert.Matches(@"apihost-0 \(pid \d+\) exited unexpectedly \(code 0\); stopping the rest", error);
        Assert.Contains("api-done", File.ReadAllText(Path.Combine(_boxDir, "logs", "apihost-0.log")));

        var (_, _, neverRestarted) = await BashResult(script, new Dictionary<string, string?> { ["BOX_RESTART_DELAY"] = "off" });
        Assert.Contains("silo-0 stays down", neverRestarted);
        Assert.DoesNotContain("code 4", neverRestarted);
        Assert.Contains("apihost-0", neverRestarted);
    }

    [Fact]
    public async Task Ports_that_collide_are_refused_before_start_naming_both_users()
    {
        var emulatorOnSilo = await BashResult("cluster_layout 2 2", new Dictionary<string, string?>(NoPortSettings) { ["KUBE_EMULATOR_PORT"] = "8090" });
        Assert.NotEqual(0, emulatorOnSilo.ExitCode);
        Assert.Contains("port 8090 is wanted by both kube-emulator and silo-0-http", emulatorOnSilo.Error);

        var apiOnEmulator = await BashResult("cluster_layout 2 2", new Dictionary<string, string?>(NoPortSettings) { ["PORT"] = "8086" });
        Assert.NotEqual(0, apiOnEmulator.ExitCode);
        Assert.Contains("port 8086 is wanted by both kube-emulator and apihost-0", apiOnEmulator.Error);

        // Embedded mode checks its own listeners the same way.
        var up = await BashResult("distinct_ports azurite-blob=10000 apihost=10000");
        Assert.NotEqual(0, up.ExitCode);
        Assert.Contains("port 10000 is wanted by both azurite-blob and apihost", up.Error);
    }

    [Fact]
    public async Task Up_uses_jwt_secret_from_the_environment_and_token_signs_with_it()
    {
        var secret = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(40));
        // What ./box up does before starting the host: the secret it passes on is the user's.
        var inUse = await Bash("ensure_jwt_secret && printf '%s' \"$JWT_SECRET\"", new Dictionary<string, string?> { ["JWT_SECRET"] = secret });
        Assert.Equal(secret, inUse);

        // ./box token from another terminal, without JWT_SECRET set, signs with the secret the box uses.
        var token = await Bash("cmd_token tenant-a");
        var result = await new JsonWebTokenHandler().ValidateTokenAsync(token, new TokenValidationParameters
        {
            IssuerSigningKey = new SymmetricSecurityKey(Encoding.UTF8.GetBytes(secret)),
            ValidateIssuer = false,
            ValidateAudience = false,
        });
        Assert.True(result.IsValid, result.Exception?.Message);
        Assert.Equal("tenant-a", result.Claims["tenant"]);
    }

    [Fact]
    public async Task Token_with_console_prints_a_sign_in_link_that_keeps_the_token_in_the_fragment()
    {
        var link = await Bash("cmd_token tenant-a --console", new Dictionary<string, string?> { ["PORT"] = "8123" });
        // The fragment never leaves the browser: no server or proxy log sees the token, as a query string would show it.
        Assert.StartsWith("http://127.0.0.1:8123/#token=", link);
        Assert.DoesNotContain("?", link);
        var token = link["http://127.0.0.1:8123/#token=".Length..];
        Assert.Equal(3, token.Split('.').Length);
        Assert.Equal("tenant-a", new JsonWebToken(token).GetClaim("tenant").Value);
    }

    [Fact]
    public async Task Without_jwt_secret_the_box_generates_one_and_keeps_it()
    {
        var first = await Bash("ensure_jwt_secret && printf '%s' \"$JWT_SECRET\"");
        var second = await Bash("ensure_jwt_secret && printf '%s' \"$JWT_SECRET\"");
        Assert.True(Encoding.UTF8.GetByteCount(first) >= AuthSettings.MinSecretBytes);
        Assert.Equal(first, second);
    }

    [Fact]
    public async Task Up_listens_on_loopback_unless_host_says_otherwise()
    {
        Assert.Equal("127.0.0.1", await Bash("listen_host"));
        Assert.Equal("0.0.0.0", await Bash("listen_host", new Dictionary<string, string?> { ["HOST"] = "0.0.0.0" }));
    }

    [Fact]
    public async Task Hash_password_reads_stdin_and_prints_a_hash_the_host_accepts()
    {
        var hash = await Bash("cmd_hash_password", stdin: "horse battery staple\n");
        Assert.Null(PasswordHash.Problem(hash));
        Assert.True(PasswordHash.Verify("horse battery staple", hash));
    }
}
