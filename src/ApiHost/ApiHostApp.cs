using Azure.Data.Tables;
using Inference.ApiHost.Admin;
using Inference.ApiHost.Audit;
using Inference.ApiHost.Auth;
using Inference.ApiHost.Health;
using Inference.ApiHost.Http;
using Inference.ApiHost.Keys;
using Inference.ApiHost.Models;
using Inference.ApiHost.Predict;
using Inference.ApiHost.Callers;
using Inference.ApiHost.Realtime;
using Inference.ApiHost.WebConsole;
using Inference.Grains.Abstractions.Events;
using Inference.ApiHost.Publishing;
using Inference.Shared.Kubernetes;
using Inference.Silo;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Dashboard;

namespace Inference.ApiHost;

public enum HostingMode
{
    /// <summary>The API host co-hosts a silo: one process, the laptop default.</summary>
    Embedded,

    /// <summary>The API host is an Orleans client of separate silo processes.</summary>
    Client,
}

public static class ApiHostApp
{
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        // Content root = where the binaries and appsettings.json are, not the working directory: config reload
        // watches its content root recursively, and from the repository root (./box) that was one inotify watch per
        // directory (5 500, node_modules included) per process, woken by every file Azurite or a build writes.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        configure?.Invoke(builder);
        var configuration = builder.Configuration;
        var mode = configuration.GetValue("Mode", HostingMode.Embedded);
        var orleans = ClusterSettings.From(configuration);
        configuration.AddContractVariables(configuration);
        var clustered = mode == HostingMode.Client || orleans.Clustering == ClusteringMode.AzureTable;
        GenerateJwtSecret(configuration, clustered);
        CheckKeySigningSecret(configuration, clustered);

        if (configuration["PORT"] is { Length: > 0 } port && configuration["urls"] is null)
        {
            // Containers need every interface; ./box up passes HOST=127.0.0.1 unless told otherwise.
            var host = configuration["HOST"] is { Length: > 0 } h ? h : "0.0.0.0";
            builder.WebHost.UseUrls($"http://{(host.Contains(':') ? $"[{host}]" : host)}:{port}");
        }
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = 1024 * 1024;
            // Names no server software to scanners, and is 17 bytes less on every key validation the gateway waits for.
            k.AddServerHeader = false;
        });
        // Request-start lines carry the full query string, and a browser's /ws token travels there. Off entirely, not
        // just quiet: while this category is enabled at any level, hosting starts an Activity and a logging scope for
        // every request (a tenth of a key validation's allocations), and nothing here reads them.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);

        if (mode == HostingMode.Embedded)
        {
            builder.UseOrleans(silo => silo.ConfigureInferenceSilo(configuration));
        }
        else
        {
            builder.UseOrleansClient(client =>
            {
                client.Configure<ClusterOptions>(o =>
                {
                    o.ClusterId = orleans.ClusterId;
                    o.ServiceId = orleans.ServiceId;
                });
                client.UseAzureStorageClustering(o =>
                {
                    o.TableServiceClient = new TableServiceClient(orleans.StorageConnectionString);
                    o.TableName = orleans.MembershipTable;
                });
                client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = orleans.ClientResponseTimeout ?? FailureDetection.ClientResponseTimeout);
                client.Configure<GatewayOptions>(o => o.GatewayListRefreshPeriod = TimeSpan.FromSeconds(2));
                client.AddMemoryStreams(ChangeStreams.Provider);
                client.UseClusterTls(required: true);
                client.AddDashboard();
                if (Telemetry.TracingEnabled(configuration))
                {
                    client.AddActivityPropagation();
                }
            });
            builder.Services.AddKubernetesClient(configuration);
            builder.Services.AddShutdownBound(orleans);
        }

        var portsInUse = PortsInUse(builder, mode == HostingMode.Embedded ? orleans : null);
        builder.AddInferenceTelemetry("inference-apihost", tracedOnlyInCallersTraces: KeyValidationApi.Path);
        builder.Services.ConfigureHttpJsonOptions(o => ApiJson.Configure(o.SerializerOptions));
        builder.Services.AddTokenAuthentication(clustered);
        builder.Services.AddHostedService<DefaultPasswordGuard>();
        var behindProxies = builder.Services.AddTrustedProxies(configuration);
        builder.Services.AddAuditLog(orleans);
        builder.Services.AddAdmin();
        var corsOrigins = CorsOrigins(configuration["CORS_ORIGINS"]);
        if (corsOrigins.Length > 0)
        {
            builder.Services.AddCors(o => o.AddDefaultPolicy(p => p.WithOrigins(corsOrigins).AllowAnyHeader().AllowAnyMethod()
                .WithExposedHeaders("Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")));
        }
        builder.Services.AddSettings<KeyValidationOptions>(KeyValidationOptions.Section, o => o.Problem(portsInUse));
        builder.Services.AddSingleton<ApiKeySigner>();
        builder.Services.AddSingleton<ListPaging>();
        builder.Services.AddSingleton<SourceThrottle>();
        builder.Services.AddSingleton<KeyLeases>();
        builder.Services.AddSingleton<ValidationMetrics>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<KeyLeases>());
        builder.Services.AddExceptionHandler<UnavailableHandler>();
        // Ahead of AddProblemDetails: the service asks its writers in registration order.
        builder.Services.AddSingleton<Microsoft.AspNetCore.Http.IProblemDetailsWriter, ContractProblemDetailsWriter>();
        builder.Services.AddProblemDetails();
        builder.Services.AddRealtime(mode);
        builder.Services.AddReadinessChecks();
        builder.Services.AddPredictProxy();
        builder.Services.AddSettings<RateLimitOptions>(RateLimitOptions.Section, o => o.Problem());
        builder.Services.AddApiReference();
        // Last, so that it starts after the services validation uses (KeyLeases above).
        builder.Services.AddKeyValidationListener(configuration);

        var app = builder.Build();
        app.UseMetricsPort();
        app.UseExceptionHandler();
        // Ahead of the status pages: a validation always writes its own body, and that middleware allocates a
        // request items dictionary on every request it sees (a fifth of a validation's allocations). Ahead of
        // routing too, which is therefore placed here rather than left to run first.
        app.UseKeyValidationShortcut();
        if (behindProxies)
        {
            // After the key-validation shortcut, which finds its source itself (SourceThrottle, from the same list).
            app.UseForwardedHeaders();
        }
        app.UseRouting();
        // Framework-generated errors (unknown route, wrong method) through the problem-details service, which writes
        // the contract's shape (ContractProblemDetailsWriter).
        app.UseStatusCodePages();
        app.UseConsoleFiles();
        if (corsOrigins.Length > 0)
        {
            app.UseCors();
        }
        app.UseAuthentication();
        app.UseMiddleware<CallerRateLimit>();
        app.UseAuthorization();
        app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<RealtimeOptions>>().Value.HeartbeatInterval });
        app.MapHealthApi();
        app.MapAuthApi();
        app.MapModelsApi();
        app.MapAdminApi();
        app.MapAuditApi();
        app.MapPredictApi();
        app.MapRealtimeApi();
        app.MapPublishingApi();
        app.MapKeyValidationApi();
        app.MapApiReference();
        // Silos, grain types and calls, in every mode (the silos collect, this host shows): admins only.
        app.MapOrleansDashboard(routePrefix: "/dashboard").RequireAuthorization(AuthExtensions.AdminPolicy);

        app.Lifetime.ApplicationStarted.Register(() =>
        {
            if (app.Services.GetRequiredService<AuthSettings>() is { UsesDefaultPassword: true } auth)
            {
                app.Logger.LogWarning("Admin login uses the DEFAULT credentials {User} / {Password}. Set ADMIN_USERNAME and ADMIN_PASSWORD (or ADMIN_PASSWORD_HASH) for anything but a laptop.",
                    auth.AdminUsername, AuthSettings.DefaultAdminPassword);
            }
        });
        return app;
    }

    /// <summary>The ports this process listens on besides the key validation port, each described by the setting that
    /// gives it: the API's (read before the metrics port joins its addresses), the metrics port, and an embedded silo's.</summary>
    private static Dictionary<int, string> PortsInUse(WebApplicationBuilder builder, ClusterSettings? embeddedSilo)
    {
        var ports = new Dictionary<int, string>();
        foreach (var url in Telemetry.ApiUrls(builder.WebHost))
        {
            BindingAddress address;
            try
            {
                address = BindingAddress.Parse(url);
            }
            catch (FormatException)
            {
                // Kestrel's to report when it binds, as it always has.
                continue;
            }
            if (address.Port > 0)
            {
                ports.TryAdd(address.Port, $"the port the API listens on ({url}; PORT, ASPNETCORE_URLS or ASPNETCORE_HTTP_PORTS)");
            }
        }
        if (Telemetry.MetricsPort(builder.Configuration) is { } metrics)
        {
            ports.TryAdd(metrics, Telemetry.MetricsPortSetting);
        }
        if (embeddedSilo is not null)
        {
            ports.TryAdd(embeddedSilo.SiloPort, $"{ClusterSettings.Section}__SiloPort");
            ports.TryAdd(embeddedSilo.GatewayPort, $"{ClusterSettings.Section}__GatewayPort");
        }
        return ports;
    }

    /// <summary>A laptop may run with a generated JWT secret; a cluster must be given one (AuthSettings.Problem
    /// refuses to start without it).</summary>
    private static void GenerateJwtSecret(ConfigurationManager configuration, bool clustered)
    {
        var key = $"{AuthSettings.Section}:{nameof(AuthSettings.JwtSecret)}";
        if (clustered || System.Text.Encoding.UTF8.GetByteCount(configuration[key] ?? "") >= AuthSettings.MinSecretBytes)
        {
            return;
        }
        configuration[key] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(48));
        Console.Error.WriteLine("warning: JWT_SECRET not set (or shorter than 32 bytes): generated one for this run; tokens end with the process.");
    }

    /// <summary>Keys are signed with a cluster secret; a laptop run without one gets one for the run (its keys stop
    /// working at restart, which the box avoids by keeping one in .box/); a cluster must be given one.</summary>
    private static void CheckKeySigningSecret(ConfigurationManager configuration, bool clustered)
    {
        if (configuration.GetSection($"{KeyValidationOptions.Section}:{nameof(KeyValidationOptions.SigningKeys)}").GetChildren().Any() || clustered)
        {
            return;
        }
        configuration[$"{KeyValidationOptions.Section}:{nameof(KeyValidationOptions.SigningKeys)}:k1"] =
            Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(48));
        Console.Error.WriteLine("warning: KeyValidation__SigningKeys__k1 not set: generated an API key signing secret for this run; keys published now stop working at restart.");
    }

    /// <summary>CORS_ORIGINS: comma-separated exact origins; unset or empty means no cross-origin access at all.</summary>
    private static string[] CorsOrigins(string? value) =>
        (value ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(o => o.TrimEnd('/')).ToArray();
}
