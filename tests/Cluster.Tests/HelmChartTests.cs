using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Inference.TestSupport;
using YamlDotNet.RepresentationModel;

namespace Inference.Cluster.Tests;

/// <summary>The chart as Helm renders it (helm/helm.sh installs a pinned Helm from the npm registry): the cluster's
/// ports closed to tenants, certificates mounted where the services read them, secrets only where used.</summary>
public sealed partial class HelmChartTests
{
    private static readonly string[] Required =
    [
        "secrets.storage.connectionString=UseDevelopmentStorage=true",
        "secrets.jwt.value=0123456789abcdef0123456789abcdef0123",
        "secrets.admin.passwordHash=opaque-hash-value",
    ];

    [Fact]
    public async Task Orleans_ports_admit_only_the_release_and_the_API_only_the_gateway_and_admins()
    {
        var docs = await Render("tls.generate=true", "networkPolicy.adminNamespaces={ops}");

        var silo = Single(docs, "NetworkPolicy", "r-inference-management-silo");
        Assert.Equal("silo", Scalar(silo, "spec", "podSelector", "matchLabels", "app.kubernetes.io/component"));
        var siloRule = Assert.Single(Sequence(silo, "spec", "ingress"));
        var siloPeer = Assert.Single(Sequence(siloRule, "from"));
        // Any pod of this release (silos and API hosts), and nothing from another namespace.
        Assert.Equal("r", Scalar(siloPeer, "podSelector", "matchLabels", "app.kubernetes.io/instance"));
        Assert.Null(Find(siloPeer, "podSelector", "matchLabels", "app.kubernetes.io/component"));
        Assert.Null(Find(siloPeer, "namespaceSelector"));
        Assert.Equal(["silo", "gateway", "http"], Sequence(siloRule, "ports").Select(p => Scalar(p, "port")));

        var api = Single(docs, "NetworkPolicy", "r-inference-management-apihost");
        var apiRules = Sequence(api, "spec", "ingress").ToList();
        Assert.Equal(2, apiRules.Count);
        Assert.Equal(["envoy-gateway-system", "ops"],
            Sequence(apiRules[0], "from").Select(p => Scalar(p, "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name")));
        Assert.Equal(["http"], Sequence(apiRules[0], "ports").Select(p => Scalar(p, "port")));
        // The key validation port (on by default): the gateway's Envoy proxies only, not the admins' namespaces.
        var validationPeer = Assert.Single(Sequence(apiRules[1], "from"));
        AssertGatewayProxies(validationPeer, "envoy-gateway-system", "inference-gateway", "envoy-gateway-system");
        Assert.Equal(["validation"], Sequence(apiRules[1], "ports").Select(p => Scalar(p, "port")));
    }

    /// <summary>A peer that admits the Envoy proxies Envoy Gateway runs for one Gateway, and nothing else: one peer with
    /// both selectors (both must match), the pods picked by Envoy Gateway's owning-gateway labels.</summary>
    private static void AssertGatewayProxies(YamlNode peer, string proxyNamespace, string gateway, string gatewayNamespace)
    {
        Assert.Equal(new Dictionary<string, string?> { ["kubernetes.io/metadata.name"] = proxyNamespace },
            Labels(Find(peer, "namespaceSelector", "matchLabels")!));
        Assert.Equal(new Dictionary<string, string?>
        {
            ["gateway.envoyproxy.io/owning-gateway-name"] = gateway,
            ["gateway.envoyproxy.io/owning-gateway-namespace"] = gatewayNamespace,
        }, Labels(Find(peer, "podSelector", "matchLabels")!));
    }

    [Fact]
    public async Task The_validation_port_admits_the_proxies_of_the_configured_gateway_or_the_peers_allowFrom_names()
    {
        var moved = await Render("tls.generate=true", "gateway.namespace=edge", "gateway.name=public",
            "networkPolicy.gatewayNamespace=envoy-proxies", "networkPolicy.apiExtraFrom[0].ipBlock.cidr=10.0.0.0/8");
        var movedRules = Sequence(Single(moved, "NetworkPolicy", "r-inference-management-apihost"), "spec", "ingress").ToList();
        AssertGatewayProxies(Assert.Single(Sequence(movedRules[1], "from")), "envoy-proxies", "public", "edge");
        // Extra peers for the API port are not admitted to the validation port.
        Assert.Contains(Sequence(movedRules[0], "from"), p => Scalar(p, "ipBlock", "cidr") == "10.0.0.0/8");
        Assert.DoesNotContain(Sequence(movedRules[1], "from"), p => Find(p, "ipBlock") is not null);

        var given = await Render("tls.generate=true", @"apihost.validation.allowFrom[0].namespaceSelector.matchLabels.kubernetes\.io/metadata\.name=mesh",
            @"apihost.validation.allowFrom[0].podSelector.matchLabels.app=ext-authz-proxy");
        var givenRule = Sequence(Single(given, "NetworkPolicy", "r-inference-management-apihost"), "spec", "ingress").Last();
        var peer = Assert.Single(Sequence(givenRule, "from"));
        Assert.Equal("mesh", Scalar(peer, "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name"));
        Assert.Equal(new Dictionary<string, string?> { ["app"] = "ext-authz-proxy" }, Labels(Find(peer, "podSelector", "matchLabels")!));
        Assert.Equal(["validation"], Sequence(givenRule, "ports").Select(p => Scalar(p, "port")));
    }

    [Fact]
    public async Task The_validation_port_when_enabled_is_a_container_and_Service_port_and_the_gateways_external_authorization_goes_to_it()
    {
        foreach (var enabled in new[] { false, true })
        {
            var docs = await Render("tls.generate=true", $"apihost.validation.enabled={enabled.ToString().ToLowerInvariant()}", "apihost.validation.port=8090",
                "apihost.validation.servicePort=9090");
            var apiPod = Find(Single(docs, "Deployment", "r-inference-management-apihost"), "spec", "template", "spec")!;
            var apiContainer = Assert.Single(Sequence(apiPod, "containers"));
            var ports = Sequence(apiContainer, "ports").ToDictionary(p => Scalar(p, "name")!, p => Scalar(p, "containerPort"));
            var service = Single(docs, "Service", "r-inference-management");
            var servicePorts = Sequence(service, "spec", "ports").ToDictionary(p => Scalar(p, "name")!, p => (Scalar(p, "port"), Scalar(p, "targetPort")));
            var apiRules = Sequence(Single(docs, "NetworkPolicy", "r-inference-management-apihost"), "spec", "ingress").ToList();
            var silo = Assert.Single(Sequence(Find(Single(docs, "Deployment", "r-inference-management-silo"), "spec", "template", "spec")!, "containers"));
            if (enabled)
            {
                Assert.Equal("8090", ports["validation"]);
                Assert.Equal("8090", Env(apiContainer)["KeyValidation__Port"]);
                Assert.Equal(("9090", "validation"), servicePorts["validation"]);
                Assert.Equal(2, apiRules.Count);
                Assert.Equal(["http"], Sequence(apiRules[0], "ports").Select(p => Scalar(p, "port")));
                Assert.Equal(["validation"], Sequence(apiRules[1], "ports").Select(p => Scalar(p, "port")));
            }
            else
            {
                Assert.DoesNotContain("validation", ports.Keys);
                Assert.DoesNotContain("KeyValidation__Port", Env(apiContainer).Keys);
                // The Service port stays and leads to the API port, so policies written while it was on keep working.
                Assert.Equal(("9090", "http"), servicePorts["validation"]);
                Assert.Equal(["http"], Sequence(Assert.Single(apiRules), "ports").Select(p => Scalar(p, "port")));
            }
            // The silos write every publication's SecurityPolicy, whose external authorization calls this Service port
            // whether the validation port is on or off.
            Assert.Equal("9090", Env(silo)["Gateway__AuthServicePort"]);
            // The API's Service port is the fallback while no API host serving the validation port is Ready (an upgrade
            // that adds it or turns it on), named also while it is off, so that those policies survive turning it on.
            Assert.Equal("8085", Env(silo)["Gateway__AuthServiceFallbackPort"]);
            Assert.Equal(("8085", "http"), servicePorts["http"]);
        }
    }

    [Fact]
    public async Task Silos_and_API_hosts_mount_the_cluster_certificates_and_only_API_hosts_get_the_JWT_and_admin_secrets()
    {
        var docs = await Render("tls.generate=true", "trustedProxies={10.2.0.0/16,10.3.0.7}");
        var secret = Single(docs, "Secret", "r-inference-management-cluster-tls");

        foreach (var name in new[] { "r-inference-management-silo", "r-inference-management-apihost" })
        {
            var pod = Find(Single(docs, "Deployment", name), "spec", "template", "spec")!;
            var volume = Sequence(pod, "volumes").Single(v => Scalar(v, "name") == "cluster-tls");
            Assert.Equal("r-inference-management-cluster-tls", Scalar(volume, "secret", "secretName"));
            var container = Assert.Single(Sequence(pod, "containers"));
            var mount = Sequence(container, "volumeMounts").Single(m => Scalar(m, "name") == "cluster-tls");
            var directory = Scalar(mount, "mountPath");
            var env = Env(container);
            Assert.Equal($"{directory}/tls.crt", env["Cluster__Tls__CertificatePath"]);
            Assert.Equal($"{directory}/tls.key", env["Cluster__Tls__KeyPath"]);
            Assert.Equal($"{directory}/ca.crt", env["Cluster__Tls__CaPath"]);
            Assert.DoesNotContain("Cluster__Tls__Disabled", env.Keys);

            var apiHost = name.EndsWith("apihost", StringComparison.Ordinal);
            Assert.Equal(apiHost, env.ContainsKey("JWT_SECRET"));
            Assert.Equal(apiHost, env.ContainsKey("ADMIN_PASSWORD_HASH"));
            Assert.Equal(apiHost, env.ContainsKey("Proxies__Trusted__0"));
            if (apiHost)
            {
                Assert.Equal("10.2.0.0/16", env["Proxies__Trusted__0"]);
                Assert.Equal("10.3.0.7", env["Proxies__Trusted__1"]);
            }
        }

        // The generated node certificate is usable by both ends of a connection and chains to the generated CA.
        var data = Find(secret, "data")!;
        using var node = X509Certificate2.CreateFromPem(Decode(data, "tls.crt"), Decode(data, "tls.key"));
        var ca = new X509Certificate2Collection();
        ca.ImportFromPem(Decode(data, "ca.crt"));
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        Assert.True(chain.Build(node));
        var usages = node.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single().EnhancedKeyUsages.Cast<System.Security.Cryptography.Oid>().Select(o => o.Value!);
        Assert.Equal(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"], usages.Order());
    }

    [Fact]
    public async Task An_existing_certificate_Secret_is_mounted_and_TLS_without_one_does_not_render()
    {
        var docs = await Render("tls.existingSecret=my-tls");
        Assert.DoesNotContain(docs, d => Scalar(d, "kind") == "Secret" && Scalar(d, "metadata", "name")!.EndsWith("cluster-tls", StringComparison.Ordinal));
        var pod = Find(Single(docs, "Deployment", "r-inference-management-silo"), "spec", "template", "spec")!;
        Assert.Equal("my-tls", Scalar(Sequence(pod, "volumes").Single(v => Scalar(v, "name") == "cluster-tls"), "secret", "secretName"));

        var (exitCode, output) = await Helm(Arguments());
        Assert.NotEqual(0, exitCode);
        Assert.Contains("tls.existingSecret", output);
    }

    private const string SigningKeyPrefix = "KeyValidation__SigningKeys__";

    [Fact]
    public async Task Only_API_hosts_get_the_key_signing_secret_and_a_generated_one_is_kept_and_long_enough()
    {
        var docs = await Render("tls.generate=true");
        var secret = Single(docs, "Secret", "r-inference-management-key-signing");
        // Losing it would invalidate every key issued so far, so uninstall leaves it like the grain state.
        Assert.Equal("keep", Scalar(secret, "metadata", "annotations", "helm.sh/resource-policy"));
        var signingKey = Convert.FromBase64String(Decode(Find(secret, "data")!, "k1"));
        Assert.True(signingKey.Length >= 32, $"{signingKey.Length} bytes");

        var apiHost = ApiHostContainer(docs);
        Assert.Contains($"{SigningKeyPrefix}k1", EnvNames(apiHost, docs));
        Assert.DoesNotContain("KeyValidation__ActiveSigningKey", EnvNames(apiHost, docs));

        var silo = Find(Single(docs, "Deployment", "r-inference-management-silo"), "spec", "template", "spec")!;
        Assert.DoesNotContain(EnvNames(Assert.Single(Sequence(silo, "containers")), docs), n => n.StartsWith("KeyValidation__", StringComparison.Ordinal));
        Assert.DoesNotContain(Sequence(silo, "volumes"), v => Scalar(v, "secret", "secretName") == "r-inference-management-key-signing");
    }

    [Fact]
    public async Task An_existing_key_signing_Secret_is_referenced_with_its_active_id()
    {
        var docs = await Render("tls.generate=true", "secrets.keySigning.existingSecret=my-keys", "secrets.keySigning.activeKey=k2");
        Assert.DoesNotContain(docs, d => Scalar(d, "kind") == "Secret" && Scalar(d, "metadata", "name")!.EndsWith("key-signing", StringComparison.Ordinal));

        var apiHost = ApiHostContainer(docs);
        var source = Assert.Single(Sequence(apiHost, "envFrom"));
        Assert.Equal(SigningKeyPrefix, Scalar(source, "prefix"));
        Assert.Equal("my-keys", Scalar(source, "secretRef", "name"));
        Assert.Equal("k2", Env(apiHost)["KeyValidation__ActiveSigningKey"]);
    }

    [Fact]
    public async Task Signing_keys_given_in_values_are_checked_before_anything_is_installed()
    {
        var k1 = Convert.ToBase64String(RandomNumberGenerator.GetBytes(48));
        var k2 = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var docs = await Render("tls.generate=true", $"secrets.keySigning.keys.k1={k1}", $"secrets.keySigning.keys.k2={k2}", "secrets.keySigning.activeKey=k2");
        var data = Find(Single(docs, "Secret", "r-inference-management-key-signing"), "data")!;
        Assert.Equal(k1, Decode(data, "k1"));
        Assert.Equal(k2, Decode(data, "k2"));
        var apiHost = ApiHostContainer(docs);
        Assert.Contains($"{SigningKeyPrefix}k2", EnvNames(apiHost, docs));
        Assert.Equal("k2", Env(apiHost)["KeyValidation__ActiveSigningKey"]);

        // The API host would refuse to start on each of these; the chart says so at install instead.
        var shortKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(31));
        foreach (var (settings, message) in new[]
        {
            (new[] { $"secrets.keySigning.keys.k1={shortKey}" }, "secrets.keySigning.keys.k1"),
            ([$"secrets.keySigning.keys.K1={k1}"], "secrets.keySigning.keys.K1"),
            ([$"secrets.keySigning.keys.k1={k1}", $"secrets.keySigning.keys.k2={k2}"], "secrets.keySigning.activeKey"),
            ([$"secrets.keySigning.keys.k1={k1}", "secrets.keySigning.activeKey=k9"], "secrets.keySigning.activeKey"),
        })
        {
            var (exitCode, output) = await Helm(Arguments(["tls.generate=true", .. settings]));
            Assert.NotEqual(0, exitCode);
            Assert.Contains(message, output);
        }
    }

    private static string Chart => Path.Combine(TestEnvironment.RepoRoot(), "helm", "inference-management");

    private static string ProductionValues => Path.Combine(Chart, "values-production.yaml");

    /// <summary>"default": values.yaml with only what it requires set (secrets, a certificate source);
    /// "production": values-production.yaml, which requires nothing more.</summary>
    private static List<string> ConfigurationArguments(string command, string configuration) => configuration switch
    {
        "default" => command == "template" ? Arguments("tls.generate=true") : ["lint", "--strict", Chart, .. Arguments("tls.generate=true").Skip(3)],
        "production" => command == "template"
            ? ["template", "r", Chart, "--namespace", "inference", "-f", ProductionValues]
            : ["lint", "--strict", Chart, "--namespace", "inference", "-f", ProductionValues],
        _ => throw new ArgumentOutOfRangeException(nameof(configuration)),
    };

    private static async Task<List<YamlMappingNode>> RenderConfiguration(string configuration)
    {
        var (exitCode, output) = await Helm(ConfigurationArguments("template", configuration));
        Assert.True(exitCode == 0, output);
        return Parse(output);
    }

    private static IEnumerable<YamlMappingNode> Deployments(List<YamlMappingNode> docs) => docs.Where(d => Scalar(d, "kind") == "Deployment");

    private static YamlNode PodSpec(YamlNode deployment) => Find(deployment, "spec", "template", "spec")!;

    [Theory]
    [InlineData("default")]
    [InlineData("production")]
    public async Task The_chart_passes_strict_lint(string configuration)
    {
        var (exitCode, output) = await Helm(ConfigurationArguments("lint", configuration));
        Assert.True(exitCode == 0, output);
        Assert.Contains("0 chart(s) failed", output);
    }

    [Fact]
    public void The_production_values_set_only_settings_the_chart_has()
    {
        // Helm ignores a key the templates never read, so a renamed setting would silently fall back to its default.
        static YamlMappingNode Load(string path)
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(File.ReadAllText(path)));
            return (YamlMappingNode)stream.Documents[0].RootNode;
        }
        static IEnumerable<string> Unknown(YamlMappingNode production, YamlMappingNode defaults, string prefix)
        {
            foreach (var (key, value) in production.Children)
            {
                var name = ((YamlScalarNode)key).Value!;
                if (!defaults.Children.TryGetValue(key, out var known))
                {
                    yield return prefix + name;
                }
                // Maps the chart passes through whole (resources, budgets) may hold keys values.yaml leaves out.
                else if (value is YamlMappingNode map && known is YamlMappingNode knownMap && knownMap.Children.Count > 0
                         && name is not ("resources" or "podDisruptionBudget"))
                {
                    foreach (var unknown in Unknown(map, knownMap, $"{prefix}{name}."))
                    {
                        yield return unknown;
                    }
                }
            }
        }
        Assert.Empty(Unknown(Load(ProductionValues), Load(Path.Combine(Chart, "values.yaml")), ""));
    }

    [Theory]
    [InlineData("default")]
    [InlineData("production")]
    public async Task Pods_run_as_non_root_on_a_read_only_root_without_privileges_and_with_resources(string configuration)
    {
        var docs = await RenderConfiguration(configuration);
        Assert.Equal(2, Deployments(docs).Count());
        foreach (var deployment in Deployments(docs))
        {
            var pod = PodSpec(deployment);
            Assert.Equal("true", Scalar(pod, "securityContext", "runAsNonRoot"));
            Assert.NotEqual("0", Scalar(pod, "securityContext", "runAsUser"));
            Assert.Equal("RuntimeDefault", Scalar(pod, "securityContext", "seccompProfile", "type"));
            var container = Assert.Single(Sequence(pod, "containers"));
            Assert.Equal("true", Scalar(container, "securityContext", "readOnlyRootFilesystem"));
            Assert.Equal("false", Scalar(container, "securityContext", "allowPrivilegeEscalation"));
            Assert.Equal(["ALL"], Sequence(container, "securityContext", "capabilities", "drop").Select(c => ((YamlScalarNode)c).Value));
            Assert.Null(Find(container, "securityContext", "capabilities", "add"));
            Assert.NotEqual("true", Scalar(container, "securityContext", "privileged"));

            // The one writable place: /tmp, a bounded emptyDir.
            var tmp = Sequence(container, "volumeMounts").Single(m => Scalar(m, "mountPath") == "/tmp");
            var volume = Sequence(pod, "volumes").Single(v => Scalar(v, "name") == Scalar(tmp, "name"));
            Assert.NotNull(Scalar(volume, "emptyDir", "sizeLimit"));
            Assert.All(Sequence(container, "volumeMounts").Where(m => Scalar(m, "mountPath") != "/tmp"), m => Assert.Equal("true", Scalar(m, "readOnly")));

            Assert.NotNull(Scalar(container, "resources", "requests", "cpu"));
            Assert.NotNull(Scalar(container, "resources", "requests", "memory"));
            Assert.NotNull(Scalar(container, "resources", "limits", "memory"));
        }
    }

    [Theory]
    [InlineData("default")]
    [InlineData("production")]
    public async Task Probes_start_on_health_restart_on_health_and_route_on_ready(string configuration)
    {
        foreach (var deployment in Deployments(await RenderConfiguration(configuration)))
        {
            var container = Assert.Single(Sequence(PodSpec(deployment), "containers"));
            var ports = Sequence(container, "ports").Select(p => Scalar(p, "name")).ToList();
            foreach (var (probe, path) in new[] { ("startupProbe", "/health"), ("livenessProbe", "/health"), ("readinessProbe", "/ready") })
            {
                Assert.Equal(path, Scalar(container, probe, "httpGet", "path"));
                Assert.Contains(Scalar(container, probe, "httpGet", "port"), ports);
                Assert.NotNull(Scalar(container, probe, "timeoutSeconds"));
            }
        }
    }

    [Theory]
    [InlineData("default")]
    [InlineData("production")]
    public async Task The_kubelet_waits_longer_than_the_graceful_shutdown_takes(string configuration)
    {
        var docs = await RenderConfiguration(configuration);
        var silo = PodSpec(Single(docs, "Deployment", "r-inference-management-silo"));
        var siloShutdown = (int)TimeSpan.Parse(Env(Assert.Single(Sequence(silo, "containers")))["Cluster__ShutdownTimeout"]!, System.Globalization.CultureInfo.InvariantCulture).TotalSeconds;
        Assert.True(int.Parse(Scalar(silo, "terminationGracePeriodSeconds")!) > siloShutdown);

        var apiHost = PodSpec(Single(docs, "Deployment", "r-inference-management-apihost"));
        var container = Assert.Single(Sequence(apiHost, "containers"));
        var preStop = int.Parse(Scalar(container, "lifecycle", "preStop", "sleep", "seconds")!);
        Assert.True(preStop > 0);
        var apiShutdown = (int)TimeSpan.Parse(Env(container)["Cluster__ShutdownTimeout"]!, System.Globalization.CultureInfo.InvariantCulture).TotalSeconds;
        Assert.True(int.Parse(Scalar(apiHost, "terminationGracePeriodSeconds")!) > preStop + apiShutdown);
    }

    [Fact]
    public async Task A_grace_period_the_shutdown_does_not_fit_in_is_refused()
    {
        foreach (var (settings, message) in new[]
        {
            (new[] { "silo.shutdownTimeoutSeconds=60", "silo.terminationGracePeriodSeconds=60" }, "silo.terminationGracePeriodSeconds"),
            (["apihost.preStopSleepSeconds=10", "apihost.shutdownTimeoutSeconds=30", "apihost.terminationGracePeriodSeconds=35"], "apihost.terminationGracePeriodSeconds"),
        })
        {
            var (exitCode, output) = await Helm(Arguments(["tls.generate=true", .. settings]));
            Assert.NotEqual(0, exitCode);
            Assert.Contains(message, output);
        }
    }

    [Theory]
    [InlineData("default")]
    [InlineData("production")]
    public async Task Each_component_has_a_disruption_budget_and_spreads_over_zones_and_nodes(string configuration)
    {
        var docs = await RenderConfiguration(configuration);
        foreach (var deployment in Deployments(docs))
        {
            var name = Scalar(deployment, "metadata", "name")!;
            var selector = Labels(Find(deployment, "spec", "selector", "matchLabels")!);
            var podLabels = Labels(Find(deployment, "spec", "template", "metadata", "labels")!);

            var budget = Single(docs, "PodDisruptionBudget", name);
            Assert.Equal(selector, Labels(Find(budget, "spec", "selector", "matchLabels")!));
            Assert.Equal("1", Scalar(budget, "spec", "maxUnavailable"));
            Assert.Equal("AlwaysAllow", Scalar(budget, "spec", "unhealthyPodEvictionPolicy"));

            var spread = Sequence(PodSpec(deployment), "topologySpreadConstraints").ToList();
            Assert.Equal(["kubernetes.io/hostname", "topology.kubernetes.io/zone"], spread.Select(c => Scalar(c, "topologyKey")).Order());
            foreach (var constraint in spread)
            {
                // Counts this component's pods: a selector wider or narrower would spread the wrong set.
                Assert.Equal(selector, Labels(Find(constraint, "labelSelector", "matchLabels")!));
                Assert.All(selector, l => Assert.Equal(l.Value, podLabels[l.Key]));
            }
            if (configuration == "production")
            {
                Assert.True(int.Parse(Scalar(deployment, "spec", "replicas")!) >= 3);
                Assert.Equal("DoNotSchedule", Scalar(spread.Single(c => Scalar(c, "topologyKey") == "kubernetes.io/hostname"), "whenUnsatisfiable"));
            }
        }
    }

    [Fact]
    public async Task RBAC_grants_exactly_what_helm_README_lists_and_API_hosts_only_read()
    {
        var docs = await RenderConfiguration("default");
        var roles = new Dictionary<(string Kind, string Name), string>
        {
            [("ClusterRole", "r-inference-management-silo")] = "silo",
            [("ClusterRole", "r-inference-management-apihost")] = "apihost",
            [("Role", "r-inference-management-orleans-hosting")] = "silo (Role, release namespace)",
        };
        var rendered = new HashSet<string>();
        foreach (var role in docs.Where(d => Scalar(d, "kind") is "ClusterRole" or "Role"))
        {
            var who = roles[(Scalar(role, "kind")!, Scalar(role, "metadata", "name")!)];
            foreach (var rule in Sequence(role, "rules"))
            {
                foreach (var group in Strings(rule, "apiGroups"))
                {
                    foreach (var resource in Strings(rule, "resources"))
                    {
                        foreach (var verb in Strings(rule, "verbs"))
                        {
                            rendered.Add($"{who} | {group} | {resource} | {verb}");
                        }
                    }
                }
            }
        }
        Assert.Equal(roles.Count, docs.Count(d => Scalar(d, "kind") is "ClusterRole" or "Role"));
        Assert.DoesNotContain(rendered, g => g.Contains('*'));

        var documented = new HashSet<string>();
        var readme = File.ReadAllLines(Path.Combine(TestEnvironment.RepoRoot(), "helm", "README.md"));
        foreach (var line in readme.SkipWhile(l => l != "## RBAC").TakeWhile(l => !l.StartsWith("Not granted", StringComparison.Ordinal))
                     .Where(l => l.StartsWith("| ", StringComparison.Ordinal)).Skip(2))
        {
            var cells = line.Split('|').Select(c => c.Trim()).ToArray();
            var group = cells[2] == "\"\"" ? "" : cells[2];
            foreach (var verb in cells[4].Split(',', StringSplitOptions.TrimEntries))
            {
                documented.Add($"{cells[1]} | {group} | {cells[3]} | {verb}");
            }
        }
        Assert.Equal(documented.Order(), rendered.Order());

        // API hosts face the gateway and admins: they read, and nothing else.
        Assert.All(rendered.Where(g => g.StartsWith("apihost |", StringComparison.Ordinal)), g => Assert.Matches(@"\| (get|list)$", g));

        // Each role is bound to its component's service account alone, and each component runs under its own.
        foreach (var (component, binding) in new[] { ("silo", "r-inference-management-silo"), ("apihost", "r-inference-management-apihost"), ("silo", "r-inference-management-orleans-hosting") })
        {
            var bound = docs.Single(d => Scalar(d, "kind") is "ClusterRoleBinding" or "RoleBinding" && Scalar(d, "metadata", "name") == binding);
            var subject = Assert.Single(Sequence(bound, "subjects"));
            Assert.Equal($"r-inference-management-{component}", Scalar(subject, "name"));
            Assert.Equal("inference", Scalar(subject, "namespace"));
        }
        Assert.Equal("inference", Scalar(Single(docs, "Role", "r-inference-management-orleans-hosting"), "metadata", "namespace"));
        foreach (var component in new[] { "silo", "apihost" })
        {
            var pod = PodSpec(Single(docs, "Deployment", $"r-inference-management-{component}"));
            Assert.Equal($"r-inference-management-{component}", Scalar(pod, "serviceAccountName"));
            Assert.Equal("true", Scalar(pod, "automountServiceAccountToken"));
            Assert.Equal("false", Scalar(Single(docs, "ServiceAccount", $"r-inference-management-{component}"), "automountServiceAccountToken"));
        }
    }

    [Fact]
    public async Task Silo_pods_carry_the_labels_and_environment_Orleans_Kubernetes_hosting_reads()
    {
        var docs = await RenderConfiguration("production");
        var template = Find(Single(docs, "Deployment", "r-inference-management-silo"), "spec", "template")!;
        var labels = Labels(Find(template, "metadata", "labels")!);
        Assert.Equal("inference-management", labels["orleans/serviceId"]);
        Assert.Equal("inference-production", labels["orleans/clusterId"]);
        var container = Assert.Single(Sequence(Find(template, "spec")!, "containers"));
        var fields = Sequence(container, "env").ToDictionary(e => Scalar(e, "name")!, e => Scalar(e, "valueFrom", "fieldRef", "fieldPath"));
        Assert.Equal("metadata.name", fields["POD_NAME"]);
        Assert.Equal("metadata.namespace", fields["POD_NAMESPACE"]);
        Assert.Equal("status.podIP", fields["POD_IP"]);
        // Read from the labels the pods are listed by, so the two cannot differ (the Role has no patch to fix them).
        Assert.Equal("metadata.labels['orleans/serviceId']", fields["ORLEANS_SERVICE_ID"]);
        Assert.Equal("metadata.labels['orleans/clusterId']", fields["ORLEANS_CLUSTER_ID"]);
    }

    private static Dictionary<string, string?> Labels(YamlNode map) =>
        ((YamlMappingNode)map).Children.ToDictionary(p => ((YamlScalarNode)p.Key).Value!, p => ((YamlScalarNode)p.Value).Value);

    private static IEnumerable<string> Strings(YamlNode node, params string[] path) =>
        Sequence(node, path).Select(n => ((YamlScalarNode)n).Value ?? "");

    private static YamlNode ApiHostContainer(List<YamlMappingNode> docs) =>
        Assert.Single(Sequence(Single(docs, "Deployment", "r-inference-management-apihost"), "spec", "template", "spec", "containers"));

    /// <summary>The variables a container gets: its env, and each key of a rendered Secret it takes with envFrom.</summary>
    private static List<string> EnvNames(YamlNode container, List<YamlMappingNode> docs)
    {
        var names = Env(container).Keys.ToList();
        foreach (var source in Sequence(container, "envFrom"))
        {
            var secret = Single(docs, "Secret", Scalar(source, "secretRef", "name")!);
            names.AddRange(((YamlMappingNode)Find(secret, "data")!).Children.Keys.Select(k => Scalar(source, "prefix") + ((YamlScalarNode)k).Value));
        }
        return names;
    }

    private static string Decode(YamlNode data, string key) => Encoding.UTF8.GetString(Convert.FromBase64String(Scalar(data, key)!));

    private static List<string> Arguments(params string[] settings)
    {
        var arguments = new List<string> { "template", "r", Path.Combine(TestEnvironment.RepoRoot(), "helm", "inference-management"), "--namespace", "inference" };
        foreach (var setting in Required.Concat(settings))
        {
            arguments.Add("--set");
            arguments.Add(setting);
        }
        return arguments;
    }

    private static async Task<List<YamlMappingNode>> Render(params string[] settings)
    {
        var (exitCode, output) = await Helm(Arguments(settings));
        Assert.True(exitCode == 0, output);
        return Parse(output);
    }

    private static List<YamlMappingNode> Parse(string output)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(output));
        return stream.Documents.Select(d => d.RootNode).OfType<YamlMappingNode>().ToList();
    }

    private static async Task<(int ExitCode, string Output)> Helm(IEnumerable<string> arguments)
    {
        var info = new ProcessStartInfo(Path.Combine(TestEnvironment.RepoRoot(), "helm", "helm.sh"))
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }

    private static YamlMappingNode Single(List<YamlMappingNode> docs, string kind, string name) =>
        Assert.Single(docs, d => Scalar(d, "kind") == kind && Scalar(d, "metadata", "name") == name);

    private static YamlNode? Find(YamlNode node, params string[] path)
    {
        foreach (var key in path)
        {
            if (node is not YamlMappingNode map || !map.Children.TryGetValue(new YamlScalarNode(key), out var child))
            {
                return null;
            }
            node = child;
        }
        return node;
    }

    private static string? Scalar(YamlNode node, params string[] path) => (Find(node, path) as YamlScalarNode)?.Value;

    private static IEnumerable<YamlNode> Sequence(YamlNode node, params string[] path) =>
        (Find(node, path) as YamlSequenceNode)?.Children ?? [];

    private static Dictionary<string, string?> Env(YamlNode container) =>
        Sequence(container, "env").ToDictionary(e => Scalar(e, "name")!, e => Scalar(e, "value"));
}
