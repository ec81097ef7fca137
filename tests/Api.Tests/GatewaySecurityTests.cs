using System.Net;
using Inference.ApiHost.Http;
using Inference.ApiHost.Keys;
using Inference.Grains.Abstractions.Keys;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using static Inference.Api.Tests.PublishingSupport;

namespace Inference.Api.Tests;

/// <summary>The gateway path as an attacker sees it: a key opens only its own publication, a source that keeps failing
/// cannot lock out valid keys, and forged keys reach no grain. Requests are made as Envoy's HTTP external
/// authorization makes them: the original method and host, the SecurityPolicy's path prefixed to the original path,
/// the client's address in the headers a trusted proxy adds.</summary>
[Collection(ApiCollection.Name)]
public sealed class GatewaySecurityTests(ApiFixture api)
{
    private const string Host = "api.router.inference-in-a-box";

    private ApiKeySigner Signer => api.Services.GetRequiredService<ApiKeySigner>();

    private async Task<(string Name, string Key)> PublishedAsync(string tenant, object? config = null)
    {
        var client = api.Tenant(tenant);
        var name = await api.ReadyModelAsync(client);
        return (name, (await client.PublishAsync(name, config ?? Config(rpm: 1000, rph: 10000, burst: 1000))).Key());
    }

    /// <summary>What the gateway sends for a request to <paramref name="path"/> on <paramref name="host"/> through the
    /// publication <paramref name="ns"/>/<paramref name="model"/>'s SecurityPolicy.</summary>
    private static HttpRequestMessage Check(HttpMethod method, string ns, string model, string path, string key, string host = Host,
        string? client = null)
    {
        var request = new HttpRequestMessage(method, $"/api/validate-api-key/{ns}/{model}{path}");
        request.Headers.Host = host;
        request.Headers.Add("X-API-Key", key);
        request.Headers.Add("X-Envoy-External-Address", client ?? NewSource());
        return request;
    }

    /// <summary>Waits for the usage to settle at <paramref name="expected"/> (hosts report within a lease period):
    /// refused validations are never counted, so it cannot pass on the way to a larger count.</summary>
    private async Task<long> TotalRequestsAsync(string tenant, string name, long expected) =>
        (await api.Tenant(tenant).SettledPublicationAsync(name, expected))["usage"]!["totalRequests"]!.GetValue<long>();

    [Fact]
    public async Task A_key_opens_only_its_own_publication_for_every_method_the_gateway_forwards()
    {
        var (nameA, keyA) = await PublishedAsync("tenant-a");
        var (nameB, keyB) = await PublishedAsync("tenant-b");
        var gateway = api.Client();
        var pathB = $"/models/{nameB}/v1/models/{nameB}:predict";

        foreach (var method in new[] { HttpMethod.Get, HttpMethod.Post, HttpMethod.Head, HttpMethod.Put, HttpMethod.Delete, HttpMethod.Patch, HttpMethod.Options })
        {
            // B's key on B's route is admitted, whatever the original method.
            var admitted = await gateway.SendAsync(Check(method, "tenant-b", nameB, pathB, keyB));
            Assert.True(admitted.StatusCode == HttpStatusCode.OK, $"{method}: {admitted.StatusCode}");
            Assert.Equal("tenant-b", admitted.Headers.GetValues("X-Tenant").Single());

            // A's key, valid in itself, is refused on B's route.
            var refused = await gateway.SendAsync(Check(method, "tenant-b", nameB, pathB, keyA));
            Assert.True(refused.StatusCode == HttpStatusCode.Forbidden, $"{method}: {refused.StatusCode}");
            if (method != HttpMethod.Head)
            {
                var body = await refused.AssertError(HttpStatusCode.Forbidden, "not valid for this route");
                Assert.False(body["valid"]!.GetValue<bool>());
            }
        }
        // The same model name in another tenant is another publication.
        await (await gateway.SendAsync(Check(HttpMethod.Post, "tenant-b", nameA, $"/models/{nameA}/x", keyA))).AssertError(HttpStatusCode.Forbidden);
        // A's key still works on A's own route, and its refusals on B's were not counted against it.
        await (await gateway.SendAsync(Check(HttpMethod.Get, "tenant-a", nameA, $"/models/{nameA}/v1/models/{nameA}", keyA))).AssertOk();
        Assert.Equal(1, await TotalRequestsAsync("tenant-a", nameA, 1));
        Assert.Equal(7, await TotalRequestsAsync("tenant-b", nameB, 7));
    }

    [Fact]
    public async Task The_original_host_and_path_must_be_the_publications()
    {
        var (name, key) = await PublishedAsync("tenant-a", Config(rpm: 1000, rph: 10000, burst: 1000, path: "/team/iris-v2"));
        var gateway = api.Client();

        await (await gateway.SendAsync(Check(HttpMethod.Post, "tenant-a", name, "/team/iris-v2/v1/models/m:predict", key))).AssertOk();
        await (await gateway.SendAsync(Check(HttpMethod.Get, "tenant-a", name, "/team/iris-v2", key))).AssertOk();
        await (await gateway.SendAsync(Check(HttpMethod.Get, "tenant-a", name, "/team/iris-v2/", key, host: Host.ToUpperInvariant()))).AssertOk();
        // Another host, a sibling path sharing the prefix's letters, or a path outside it.
        await (await gateway.SendAsync(Check(HttpMethod.Post, "tenant-a", name, "/team/iris-v2/v1/models/m:predict", key, host: "evil.example.com")))
            .AssertError(HttpStatusCode.Forbidden);
        await (await gateway.SendAsync(Check(HttpMethod.Post, "tenant-a", name, "/team/iris-v2x/v1/models/m:predict", key))).AssertError(HttpStatusCode.Forbidden);
        await (await gateway.SendAsync(Check(HttpMethod.Post, "tenant-a", name, "/team/other", key))).AssertError(HttpStatusCode.Forbidden);
        await (await gateway.SendAsync(Check(HttpMethod.Post, "tenant-a", name, "/", key))).AssertError(HttpStatusCode.Forbidden);

        // An update moves the route: the old path is refused from then on, the new one admitted.
        await (await api.Tenant("tenant-a").PutJson($"/api/models/{name}/publish", new { config = new { externalPath = "/team/iris-v3" } })).AssertOk();
        await (await gateway.SendAsync(Check(HttpMethod.Post, "tenant-a", name, "/team/iris-v2/v1", key))).AssertError(HttpStatusCode.Forbidden);
        await (await gateway.SendAsync(Check(HttpMethod.Post, "tenant-a", name, "/team/iris-v3/v1", key))).AssertOk();
    }

    [Fact]
    public async Task An_openai_publication_is_held_to_its_model_header()
    {
        var client = api.Tenant("tenant-a");
        var name = await api.ReadyModelAsync(client, framework: "huggingface");
        var key = (await client.PublishAsync(name, Config(rpm: 1000, rph: 10000, burst: 1000, modelType: "openai"))).Key();
        var gateway = api.Client();

        var own = Check(HttpMethod.Post, "tenant-a", name, "/v1/chat/completions", key);
        own.Headers.Add("X-AI-EG-Model", name);
        await (await gateway.SendAsync(own)).AssertOk();
        var other = Check(HttpMethod.Post, "tenant-a", name, "/v1/chat/completions", key);
        other.Headers.Add("X-AI-EG-Model", "someone-elses-model");
        await (await gateway.SendAsync(other)).AssertError(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task Allowed_tenants_are_enforced_from_the_calling_tenant_header()
    {
        var (name, key) = await PublishedAsync("tenant-a", Config(rpm: 1000, rph: 10000, burst: 1000, allowedTenants: ["tenant-c"]));
        var gateway = api.Client();
        var path = $"/models/{name}/v1/models/{name}:predict";

        // No calling tenant named, or another one: refused, through the gateway's form and the bare one alike.
        await (await gateway.SendAsync(Check(HttpMethod.Post, "tenant-a", name, path, key))).AssertError(HttpStatusCode.Forbidden);
        await (await gateway.ValidateAsync(key)).AssertError(HttpStatusCode.Forbidden);
        var stranger = Check(HttpMethod.Post, "tenant-a", name, path, key);
        stranger.Headers.Add("X-Caller-Tenant", "tenant-d");
        await (await gateway.SendAsync(stranger)).AssertError(HttpStatusCode.Forbidden);

        var allowed = Check(HttpMethod.Post, "tenant-a", name, path, key);
        allowed.Headers.Add("X-Caller-Tenant", "tenant-c");
        await (await gateway.SendAsync(allowed)).AssertOk();
        Assert.Equal(1, await TotalRequestsAsync("tenant-a", name, 1));
    }

    [Fact]
    public async Task A_forwarded_check_must_name_a_publication()
    {
        var (_, key) = await PublishedAsync("tenant-a");
        var gateway = api.Client();
        var request = new HttpRequestMessage(HttpMethod.Get, "/api/validate-api-key/only-one-segment");
        request.Headers.Add("X-API-Key", key);
        await (await gateway.SendAsync(request)).AssertError(HttpStatusCode.BadRequest, "Invalid request format");
    }

    [Fact]
    public async Task Junk_from_one_client_never_locks_out_valid_keys()
    {
        var (name, key) = await PublishedAsync("tenant-a");
        var gateway = api.Client();
        var attacker = NewSource();
        var path = $"/models/{name}/v1/models/{name}:predict";

        // Keyless requests are not failures: any number of them costs the source nothing.
        for (var i = 0; i < 200; i++)
        {
            var keyless = new HttpRequestMessage(HttpMethod.Post, $"/api/validate-api-key/tenant-a/{name}{path}");
            keyless.Headers.Host = Host;
            keyless.Headers.Add("X-Envoy-External-Address", attacker);
            await (await gateway.SendAsync(keyless)).AssertError(HttpStatusCode.Unauthorized, "API key required");
        }
        await (await gateway.SendAsync(Check(HttpMethod.Post, "tenant-a", name, path, "pk_live_junk", client: attacker)))
            .AssertError(HttpStatusCode.Unauthorized, "Invalid API key");

        // Junk and forged keys, all from the attacker's address, all through the gateway's own connection.
        await Parallel.ForEachAsync(Enumerable.Range(0, 800), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, _) =>
        {
            var junk = i % 2 == 0 ? $"junk-{i}" : ApiKeys.Prefix + new string('a', ApiKeys.Length - ApiKeys.Prefix.Length);
            var response = await gateway.SendAsync(Check(HttpMethod.Post, "tenant-a", name, path, junk, client: attacker));
            Assert.True(response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.TooManyRequests, response.StatusCode.ToString());
        });
        await (await gateway.SendAsync(Check(HttpMethod.Post, "tenant-a", name, path, "junk", client: attacker)))
            .AssertError(HttpStatusCode.TooManyRequests, "Too many failed validations");

        // Another client behind the same gateway is not affected, and the attacker's own valid key is still admitted.
        await (await gateway.SendAsync(Check(HttpMethod.Post, "tenant-a", name, path, key))).AssertOk();
        await (await gateway.SendAsync(Check(HttpMethod.Post, "tenant-a", name, path, key, client: attacker))).AssertOk();
    }

    [Fact]
    public async Task Ten_thousand_forged_keys_touch_no_grain()
    {
        var gateway = api.Client();
        var batcher = api.Services.GetRequiredService<KeyLeases>();
        var management = api.Services.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0);
        var callsBefore = batcher.GrainCalls;
        var keysBefore = await ApiKeyActivationsAsync(management);
        var keyId = ApiKeys.KeyId(Signer.Create().FullKey).ToString();

        // Well formed in every way a client can see (prefix, length, alphabet, a real secret id), each from its own
        // address so the failure throttle plays no part: only the keyed tag stands between them and a grain.
        await Parallel.ForEachAsync(Enumerable.Range(0, 10_000), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (_, _) =>
        {
            var forged = ApiKeys.Prefix + RandomBase62(ApiKeys.BodyLength) + keyId + RandomBase62(ApiKeys.TagLength);
            var response = await gateway.ValidateAsync(forged, source: NewSource());
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        });

        Assert.Equal(callsBefore, batcher.GrainCalls);
        Assert.Equal(keysBefore, await ApiKeyActivationsAsync(management));
    }

    [Fact]
    public void Keys_are_signed_by_a_cluster_secret_that_can_be_rotated()
    {
        static ApiKeySigner SignerWith(string? active, params (string Id, string Secret)[] secrets) => new(Options.Create(new KeyValidationOptions
        {
            SigningKeys = secrets.ToDictionary(s => s.Id, s => s.Secret),
            ActiveSigningKey = active,
        }));
        var first = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        var second = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        var before = SignerWith(null, ("k1", first));
        var after = SignerWith("k2", ("k1", first), ("k2", second));
        var elsewhere = SignerWith(null, ("k1", second));

        var old = before.Create().FullKey;
        var fresh = after.Create().FullKey;
        Assert.Equal("k2", ApiKeys.KeyId(fresh).ToString());
        Assert.True(after.IsGenuine(old)); // keys issued before the rotation keep working
        Assert.True(after.IsGenuine(fresh));
        Assert.False(before.IsGenuine(fresh)); // a host without the new secret cannot check new keys
        Assert.False(elsewhere.IsGenuine(old)); // another cluster's secret, or a guess, signs nothing here

        Assert.Contains("KeyValidation__SigningKeys__k1", new KeyValidationOptions().Problem());
        Assert.NotNull(new KeyValidationOptions { SigningKeys = { ["k1"] = Convert.ToBase64String(new byte[16]) } }.Problem());
        Assert.NotNull(new KeyValidationOptions { SigningKeys = { ["K1"] = first } }.Problem());
        Assert.NotNull(new KeyValidationOptions { SigningKeys = { ["k1"] = first, ["k2"] = second } }.Problem());
        Assert.Null(new KeyValidationOptions { SigningKeys = { ["k1"] = first } }.Problem());
        Assert.Contains("Proxies__Trusted", new ProxyOptions { Trusted = ["not-an-address"] }.Problem());
        Assert.Null(new ProxyOptions { Trusted = ["10.0.0.0/8", "127.0.0.1", "::1"] }.Problem());
    }

    [Fact]
    public async Task Token_counts_that_would_overflow_a_total_are_refused_and_totals_never_wrap()
    {
        var (name, key) = await PublishedAsync("tenant-a", Config(rpm: 1000, rph: 10000, burst: 1000, tokens: 0));
        var gateway = api.Client();
        await (await gateway.ValidateAsync(key, tokens: long.MaxValue)).AssertError(HttpStatusCode.BadRequest, "tokens");
        await (await gateway.PostJson("/api/validate-api-key", new { apiKey = key, tokens = long.MaxValue })).AssertError(HttpStatusCode.BadRequest, "tokens");
        for (var i = 0; i < 3; i++)
        {
            await (await gateway.ValidateAsync(key, tokens: KeyValidationApi.MaxTokens)).AssertOk();
        }
        var usage = (await api.Tenant("tenant-a").SettledPublicationAsync(name, 3))["usage"]!;
        Assert.Equal(3 * KeyValidationApi.MaxTokens, usage["tokensUsed"]!.GetValue<long>());

        // The grain itself saturates rather than wraps, whoever calls it.
        var grain = api.Services.GetRequiredService<IGrainFactory>().GetGrain<IApiKeyGrain>(ApiKeys.Hash(key));
        await grain.ValidateAsync(long.MaxValue);
        await grain.ValidateAsync(long.MaxValue);
        Assert.Equal(long.MaxValue, (await grain.GetUsageAsync()).TokensUsed);
    }

    private static string RandomBase62(int length) =>
        new(System.Security.Cryptography.RandomNumberGenerator.GetItems<char>("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", length));

    private static async Task<int> ApiKeyActivationsAsync(IManagementGrain management) =>
        (await management.GetSimpleGrainStatistics()).Where(s => s.GrainType.Contains("ApiKeyGrain", StringComparison.Ordinal)).Sum(s => s.ActivationCount);
}
