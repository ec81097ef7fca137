using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Headers;
using Inference.ApiHost.Keys;
using Inference.Grains.Abstractions.Keys;
using Microsoft.Extensions.DependencyInjection;
using Inference.TestSupport;
using static Inference.Api.Tests.PublishingSupport;

namespace Inference.Api.Tests;

[Collection(ApiCollection.Name)]
public sealed class KeyValidationTests(ApiFixture api)
{
    private ApiKeySigner Signer => api.Services.GetRequiredService<ApiKeySigner>();

    private async Task<(string Name, string Key)> PublishedAsync(object? config = null)
    {
        var tenant = api.Tenant("tenant-a");
        var name = await api.ReadyModelAsync(tenant);
        return (name, (await tenant.PublishAsync(name, config)).Key());
    }

    private static void AssertRateLimitHeaders(HttpResponseMessage response, int limit)
    {
        Assert.Equal(limit.ToString(), response.Headers.GetValues("X-RateLimit-Limit").Single());
        Assert.True(int.Parse(response.Headers.GetValues("X-RateLimit-Remaining").Single()) >= 0);
        Assert.True(int.Parse(response.Headers.GetValues("X-RateLimit-Reset").Single()) >= 0);
        Assert.StartsWith($"limit={limit}, remaining=", response.Headers.GetValues("RateLimit").Single());
        Assert.StartsWith($"{limit};w=60", response.Headers.GetValues("RateLimit-Policy").Single());
    }

    [Fact]
    public async Task A_valid_key_is_accepted_from_the_body_the_header_or_a_bearer_token()
    {
        var (name, key) = await PublishedAsync(Config(rpm: 50, rph: 1000, burst: 50));
        var anonymous = api.Client();

        var fromHeader = await anonymous.ValidateAsync(key);
        var body = await fromHeader.AssertOk();
        Assert.True(body["valid"]!.GetValue<bool>());
        Assert.Equal("tenant-a", body["tenant"]!.GetValue<string>());
        Assert.Equal(name, body["model"]!.GetValue<string>());
        Assert.Equal("tenant-a", fromHeader.Headers.GetValues("X-Tenant").Single());
        Assert.Equal(name, fromHeader.Headers.GetValues("X-Model").Single());
        AssertRateLimitHeaders(fromHeader, 50);
        Assert.Equal("49", fromHeader.Headers.GetValues("X-RateLimit-Remaining").Single());
        // Sized, not chunked: the gateway gets the whole answer in one send, with nothing to wait for after it.
        Assert.NotEqual(true, fromHeader.Headers.TransferEncodingChunked);
        Assert.Equal((await fromHeader.Content.ReadAsByteArrayAsync()).Length, fromHeader.Content.Headers.ContentLength);
        Assert.Empty(fromHeader.Headers.Server); // no server software named
        Assert.Equal("application/json; charset=utf-8", fromHeader.Content.Headers.ContentType!.ToString());
        Assert.Equal("50;w=60, 1000;w=3600", fromHeader.Headers.GetValues("RateLimit-Policy").Single());

        var fromBody = await anonymous.PostJson("/api/validate-api-key", new { apiKey = key });
        Assert.Equal(name, (await fromBody.AssertOk())["model"]!.GetValue<string>());
        Assert.Equal("48", fromBody.Headers.GetValues("X-RateLimit-Remaining").Single());

        var bearer = new HttpRequestMessage(HttpMethod.Post, "/api/validate-api-key");
        bearer.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        var fromBearer = await anonymous.SendAsync(bearer);
        Assert.Equal(name, (await fromBearer.AssertOk())["model"]!.GetValue<string>());

        // Envoy's HTTP ext_authz prefixes the policy's path (which names the publication) to the original one.
        var forwarded = new HttpRequestMessage(HttpMethod.Post, $"/api/validate-api-key/tenant-a/{name}/models/{name}/v1/models/{name}:predict");
        forwarded.Headers.Host = "api.router.inference-in-a-box";
        forwarded.Headers.Add("X-API-Key", key);
        (await anonymous.SendAsync(forwarded)).EnsureSuccessStatusCode();

        var usage = (await api.Tenant("tenant-a").SettledPublicationAsync(name, 4))["usage"]!;
        Assert.Equal(4, usage["totalRequests"]!.GetValue<long>());
        Assert.Equal(4, usage["requestsToday"]!.GetValue<long>());
    }

    [Fact]
    public async Task Missing_malformed_and_unknown_keys_are_401_with_rate_limit_headers()
    {
        var anonymous = api.Client();
        var source = NewSource();

        var missing = new HttpRequestMessage(HttpMethod.Post, "/api/validate-api-key");
        missing.Headers.Add("X-Forwarded-For", source);
        var none = await anonymous.SendAsync(missing);
        var body = await none.AssertError(HttpStatusCode.Unauthorized, "API key required");
        Assert.False(body["valid"]!.GetValue<bool>());
        Assert.NotNull(none.Headers.GetValues("X-RateLimit-Limit").Single());

        var (_, real) = await PublishedAsync();
        var badChecksum = real[..^1] + (real[^1] == 'a' ? 'b' : 'a');
        var leases = api.Services.GetRequiredService<KeyLeases>();
        var grainCallsBefore = leases.GrainCalls;
        foreach (var junk in new[] { "nonsense", "pk_live_", badChecksum, real + "x", real.Replace("pk_live_", "pk_test_") })
        {
            var response = await anonymous.ValidateAsync(junk, source: source);
            await response.AssertError(HttpStatusCode.Unauthorized, "Invalid API key");
            Assert.NotNull(response.Headers.GetValues("RateLimit").Single());
            Assert.NotNull(response.Headers.GetValues("RateLimit-Policy").Single());
        }
        // Junk never reaches a grain, not even a key of the right shape with a wrong tag.
        Assert.Equal(grainCallsBefore, leases.GrainCalls);
        var unknown = Signer.Create().FullKey;
        Assert.True(Signer.IsGenuine(unknown));
        await (await anonymous.ValidateAsync(unknown, source: source)).AssertError(HttpStatusCode.Unauthorized, "Invalid API key");
        await (await anonymous.PostRaw("/api/validate-api-key", "{\"apiKey\": ")).AssertError(HttpStatusCode.BadRequest);
        await (await anonymous.PostJson("/api/validate-api-key", new { apiKey = real, tokens = -5 })).AssertError(HttpStatusCode.BadRequest, "tokens");
        await (await anonymous.ValidateAsync(real, tokens: null, source: source)).AssertOk();
    }

    [Fact]
    public async Task Answers_of_different_lengths_in_a_row_are_each_whole_and_sized()
    {
        // Answers are serialized into a buffer each thread reuses: a short answer after a long one must not carry
        // anything of it.
        var (name, key) = await PublishedAsync(Config(rpm: 3, rph: 1000, burst: 3));
        var anonymous = api.Client();
        var source = NewSource();
        for (var round = 0; round < 3; round++)
        {
            var missing = new HttpRequestMessage(HttpMethod.Post, "/api/validate-api-key");
            missing.Headers.Add("X-Forwarded-For", source);
            var long_ = await anonymous.SendAsync(missing);
            await AssertSized(long_);
            Assert.Contains("X-API-Key", (await long_.AssertError(HttpStatusCode.Unauthorized, "API key required"))["details"]!.GetValue<string>());

            var valid = await anonymous.ValidateAsync(key);
            await AssertSized(valid);
            var body = await valid.AssertOk();
            Assert.Equal(3, body.AsObject().Count);
            Assert.Equal(name, body["model"]!.GetValue<string>());
        }
        var limited = await anonymous.ValidateAsync(key);
        await AssertSized(limited);
        await limited.AssertError(HttpStatusCode.TooManyRequests, "requestsPerMinute");

        static async Task AssertSized(HttpResponseMessage response) =>
            Assert.Equal((await response.Content.ReadAsByteArrayAsync()).Length, response.Content.Headers.ContentLength);
    }

    [Fact]
    public async Task Other_methods_and_paths_near_the_validation_path_are_not_validations()
    {
        var (_, key) = await PublishedAsync();
        var anonymous = api.Client();
        var leases = api.Services.GetRequiredService<KeyLeases>();
        var decided = leases.LocalDecisions + leases.GrainCalls;

        var get = new HttpRequestMessage(HttpMethod.Get, "/api/validate-api-key");
        get.Headers.Add("X-API-Key", key);
        await (await anonymous.SendAsync(get)).AssertError(HttpStatusCode.MethodNotAllowed, "Method not allowed");
        var traceForwarded = new HttpRequestMessage(HttpMethod.Trace, "/api/validate-api-key/tenant-a/m/v1/models/m:predict");
        traceForwarded.Headers.Add("X-API-Key", key);
        await (await anonymous.SendAsync(traceForwarded)).AssertError(HttpStatusCode.MethodNotAllowed);
        var lookalike = new HttpRequestMessage(HttpMethod.Post, "/api/validate-api-keys");
        lookalike.Headers.Add("X-API-Key", key);
        await (await anonymous.SendAsync(lookalike)).AssertError(HttpStatusCode.NotFound, "Not found");
        Assert.Equal(decided, leases.LocalDecisions + leases.GrainCalls);

        // The path is matched as routing would: case-insensitively, with or without a forwarded path.
        var upper = new HttpRequestMessage(HttpMethod.Post, "/API/Validate-Api-Key/");
        upper.Headers.Add("X-API-Key", key);
        (await anonymous.SendAsync(upper)).EnsureSuccessStatusCode();
    }

    [Fact]
    public async Task Repeated_failures_from_one_source_are_refused_but_its_valid_key_is_not()
    {
        var (_, key) = await PublishedAsync();
        var anonymous = api.Client();
        var attacker = NewSource();
        for (var i = 0; i < 100; i++)
        {
            await (await anonymous.ValidateAsync(Signer.Create().FullKey, source: attacker)).AssertError(HttpStatusCode.Unauthorized);
        }

        await (await anonymous.ValidateAsync(key, source: attacker)).AssertOk();
        var refused = await anonymous.ValidateAsync(Signer.Create().FullKey, source: attacker);
        await refused.AssertError(HttpStatusCode.TooManyRequests, "Too many failed validations");
        Assert.True(int.Parse(refused.Headers.GetValues("Retry-After").Single()) is > 0 and <= 60);
        Assert.Equal("0", refused.Headers.GetValues("X-RateLimit-Remaining").Single());

        (await anonymous.ValidateAsync(key, source: NewSource())).EnsureSuccessStatusCode();
    }

    [Fact]
    public async Task The_burst_limit_is_a_token_bucket()
    {
        // 6 per minute refills one token every 10 s, so a third request right after two is refused.
        var (_, key) = await PublishedAsync(Config(rpm: 6, rph: 100, burst: 2));
        var client = api.Client();
        (await client.ValidateAsync(key)).EnsureSuccessStatusCode();
        (await client.ValidateAsync(key)).EnsureSuccessStatusCode();
        var limited = await client.ValidateAsync(key);
        await limited.AssertError(HttpStatusCode.TooManyRequests, "burstLimit");
        Assert.True(int.Parse(limited.Headers.GetValues("Retry-After").Single()) is > 0 and <= 10);
        AssertRateLimitHeaders(limited, 6);
    }

    [Fact]
    public async Task The_per_minute_limit_is_exact()
    {
        var (name, key) = await PublishedAsync(Config(rpm: 5, rph: 100, burst: 5));
        var client = api.Client();
        var results = await Task.WhenAll(Enumerable.Range(0, 12).Select(_ => client.ValidateAsync(key)));
        Assert.Equal(5, results.Count(r => r.StatusCode == HttpStatusCode.OK));
        var limited = results.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        Assert.Equal(7, limited.Count);
        var first = limited[0];
        await first.AssertError(HttpStatusCode.TooManyRequests, "requestsPerMinute");
        Assert.True(int.Parse(first.Headers.GetValues("Retry-After").Single()) is > 0 and <= 60);
        Assert.Equal("0", first.Headers.GetValues("X-RateLimit-Remaining").Single());
        // Refused requests are not counted as usage.
        var usage = (await api.Tenant("tenant-a").SettledPublicationAsync(name, 5))["usage"]!;
        Assert.Equal(5, usage["totalRequests"]!.GetValue<long>());
    }

    /// <summary>Another API host's leases (as an API host in client mode, or a second host, has): its own lease
    /// holder, sharing the key's grain with this fixture's host.</summary>
    private KeyLeases AnotherHost() => new(api.Services.GetRequiredService<IGrainFactory>(), api.Services.GetRequiredService<IMeterFactory>(),
        TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger<KeyLeases>.Instance);

    private async Task<long> TotalRequestsAsync(string name) =>
        (await (await api.Tenant("tenant-a").GetAsync($"/api/models/{name}/publish")).AssertOk())["usage"]!["totalRequests"]!.GetValue<long>();

    [Fact]
    public async Task Concurrent_validations_on_two_hosts_share_few_lease_calls_and_stay_exact()
    {
        var (name, key) = await PublishedAsync(Config(rpm: 60, rph: 1000, burst: 60));
        var hosts = new[] { api.Services.GetRequiredService<KeyLeases>(), AnotherHost() };
        var callsBefore = hosts.Sum(h => h.GrainCalls);
        var hash = ApiKeys.Hash(key);

        var checks = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => Task.Run(() => hosts[i % 2].ValidateAsync(hash, 1))));

        Assert.Equal(60, checks.Count(c => c.Outcome == KeyOutcome.Valid));
        Assert.Equal(140, checks.Count(c => c.Outcome == KeyOutcome.Limited));
        // Requests that arrive together wait for one renewal of the key's lease and share it: far fewer calls than
        // requests, even as grants shrink near the limit.
        Assert.InRange(hosts.Sum(h => h.GrainCalls) - callsBefore, 1, 100);
        // Usage is what the hosts spent, reported with the next lease request or within a lease period.
        await TestEnvironment.Eventually(() => TotalRequestsAsync(name), n => n == 60, what: "usage to reach the admissions");
        var usage = (await (await api.Tenant("tenant-a").GetAsync($"/api/models/{name}/publish")).AssertOk())["usage"]!;
        Assert.Equal(60, usage["tokensUsed"]!.GetValue<long>());
    }

    /// <summary>A client hammering an exhausted key: once the grain says only time reopens the limit, the host answers
    /// the 429s itself until then, and each of them still reaches the key's usage history.</summary>
    [Fact]
    public async Task A_429_storm_on_an_exhausted_key_costs_a_few_grain_calls_and_every_429_is_counted()
    {
        var (name, key) = await PublishedAsync(Config(rpm: 3, rph: 1000, burst: 3));
        var leases = api.Services.GetRequiredService<KeyLeases>();
        var client = api.Client();
        for (var i = 0; i < 3; i++)
        {
            (await client.ValidateAsync(key)).EnsureSuccessStatusCode();
        }
        var (callsBefore, localBefore) = (leases.GrainCalls, leases.LimitedLocally);
        var factory = api.Services.GetRequiredService<IMeterFactory>();
        var limitedByMemo = 0L;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter.Scope, factory) && instrument.Name == "inference.key_validation.validations")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            var pairs = tags.ToArray();
            if (pairs.Contains(new("decided_by", "memo")) && pairs.Contains(new("outcome", "limited")))
            {
                Interlocked.Add(ref limitedByMemo, value);
            }
        });
        listener.Start();

        const int storm = 100;
        for (var i = 0; i < storm; i++)
        {
            var limited = await client.ValidateAsync(key);
            await limited.AssertError(HttpStatusCode.TooManyRequests, "requestsPerMinute");
            Assert.True(int.Parse(limited.Headers.GetValues("Retry-After").Single()) is > 0 and <= 60);
            Assert.Equal("0", limited.Headers.GetValues("X-RateLimit-Remaining").Single());
            AssertRateLimitHeaders(limited, 3);
        }

        // One call learns the refusal holds until the window frees a slot (one more where the last grant was still
        // out, and one per memo period on a slow run); the rest are answered here.
        Assert.InRange(leases.GrainCalls - callsBefore, 1, 5);
        Assert.True(leases.LimitedLocally - localBefore >= storm - 5, $"{leases.LimitedLocally - localBefore} of {storm} refused locally");
        Assert.True(Interlocked.Read(ref limitedByMemo) >= storm - 5, $"{Interlocked.Read(ref limitedByMemo)} of {storm} counted as decided by memo");
        var hour = await TestEnvironment.Eventually(
            async () => await (await api.Tenant("tenant-a").GetAsync($"/api/models/{name}/publish/usage?window=1h")).AssertOk(),
            u => u["buckets"]!.AsArray().Sum(b => b!["limited"]!.GetValue<long>()) >= storm,
            what: "the hour to show every 429");
        Assert.Equal(storm, hour["buckets"]!.AsArray().Sum(b => b!["limited"]!.GetValue<long>()));
        Assert.Equal(3, hour["buckets"]!.AsArray().Sum(b => b!["requests"]!.GetValue<long>()));
    }

    /// <summary>An hourly limit's refusal is remembered on the host (its Retry-After runs to the end of the hour):
    /// raising the limit must end that at once.</summary>
    [Fact]
    public async Task Raising_an_exhausted_hourly_limit_admits_the_next_validation_at_once()
    {
        var (name, key) = await PublishedAsync(Config(rpm: 100, rph: 1000, tokens: 100, burst: 100));
        var leases = api.Services.GetRequiredService<KeyLeases>();
        var client = api.Client();
        (await client.ValidateAsync(key, tokens: 100)).EnsureSuccessStatusCode();
        await (await client.ValidateAsync(key)).AssertError(HttpStatusCode.TooManyRequests, "tokensPerHour");
        var local = leases.LimitedLocally;
        var limited = await client.ValidateAsync(key);
        await limited.AssertError(HttpStatusCode.TooManyRequests, "tokensPerHour");
        Assert.True(int.Parse(limited.Headers.GetValues("Retry-After").Single()) is > 0 and <= 3600);
        Assert.Equal(local + 1, leases.LimitedLocally);

        await (await api.Tenant("tenant-a").PutJson($"/api/models/{name}/publish", new
        {
            config = new { rateLimiting = new { requestsPerMinute = 100, requestsPerHour = 1000, tokensPerHour = 100000, burstLimit = 100 } },
        })).AssertOk();

        (await client.ValidateAsync(key)).EnsureSuccessStatusCode();
        Assert.Equal(local + 1, leases.LimitedLocally);
    }

    /// <summary>While another host holds grants it has not spent, a refusal is not remembered: that host's refund
    /// reopens the limit, and the next request sees it. Admissions stay exact throughout.</summary>
    [Fact]
    public async Task With_another_host_holding_unspent_grants_each_429_asks_the_grain_and_a_refund_is_seen_at_once()
    {
        var (name, key) = await PublishedAsync(Config(rpm: 8, rph: 1000, burst: 8));
        var hash = ApiKeys.Hash(key);
        var grains = api.Services.GetRequiredService<IGrainFactory>();
        var grain = grains.GetGrain<IApiKeyGrain>(hash);
        var holder = new QuietHolder();
        var other = Guid.NewGuid().ToString("N");
        var held = await grain.LeaseAsync(new LeaseRequest(other, grains.CreateObjectReference<IKeyLeaseHolder>(holder), 100, 0, default));
        Assert.Equal(2, held.Granted);
        var leases = api.Services.GetRequiredService<KeyLeases>();

        var admitted = 0;
        while ((await leases.ValidateAsync(hash, 0)).Outcome == KeyOutcome.Valid)
        {
            admitted++;
        }
        Assert.Equal(6, admitted);
        var (calls, local) = (leases.GrainCalls, leases.LimitedLocally);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(KeyOutcome.Limited, (await leases.ValidateAsync(hash, 0)).Outcome);
        }
        Assert.Equal(3, leases.GrainCalls - calls);
        Assert.Equal(local, leases.LimitedLocally);

        // The other host gives its grant back (within its lease, so the grain refunds it).
        await grain.ReturnAsync(other, new LeaseReport(held.GrantedAt, 0, held.Granted, 0, 0));
        Assert.Equal(KeyOutcome.Valid, (await leases.ValidateAsync(hash, 0)).Outcome);
        Assert.Equal(KeyOutcome.Valid, (await leases.ValidateAsync(hash, 0)).Outcome);
        Assert.Equal(KeyOutcome.Limited, (await leases.ValidateAsync(hash, 0)).Outcome);
        await api.Tenant("tenant-a").SettledPublicationAsync(name, 8);
    }

    /// <summary>A lease holder that only counts being told to drop.</summary>
    private sealed class QuietHolder : IKeyLeaseHolder
    {
        public Task<LeaseReport[]> DropAsync(string keyHash) => Task.FromResult(Array.Empty<LeaseReport>());
    }

    [Fact]
    public async Task A_leased_key_is_decided_without_grain_calls_and_revocation_applies_at_once()
    {
        var (name, key) = await PublishedAsync(Config(rpm: 100000, rph: 1000000, burst: 100000));
        var leases = api.Services.GetRequiredService<KeyLeases>();
        var other = AnotherHost();
        var hash = ApiKeys.Hash(key);
        Assert.Equal(KeyOutcome.Valid, (await leases.ValidateAsync(hash, 0)).Outcome);
        Assert.Equal(KeyOutcome.Valid, (await other.ValidateAsync(hash, 0)).Outcome);
        var (callsBefore, localBefore) = (leases.GrainCalls, leases.LocalDecisions);

        for (var i = 0; i < 50; i++)
        {
            Assert.Equal(KeyOutcome.Valid, (await leases.ValidateAsync(hash, 0)).Outcome);
        }
        // The rate was low, so the grants were small: a few renewals, most validations decided from the lease.
        Assert.True(leases.LocalDecisions - localBefore >= 25, $"{leases.LocalDecisions - localBefore} of 50 decided locally");
        Assert.True(leases.GrainCalls - callsBefore <= 25, $"{leases.GrainCalls - callsBefore} grain calls for 50 validations");

        // Both hosts hold a lease; unpublishing answers only once both have dropped it: nothing is admitted after.
        (await api.Tenant("tenant-a").DeleteAsync($"/api/models/{name}/publish")).EnsureSuccessStatusCode();
        Assert.Equal(KeyOutcome.Revoked, (await leases.ValidateAsync(hash, 0)).Outcome);
        Assert.Equal(KeyOutcome.Revoked, (await other.ValidateAsync(hash, 0)).Outcome);
        await (await api.Client().ValidateAsync(key)).AssertError(HttpStatusCode.Unauthorized, "revoked");
        Assert.Equal(0, leases.KeysHeld(hash));
    }

    [Fact]
    public async Task Dead_keys_leave_nothing_held_on_the_host()
    {
        var leases = AnotherHost();
        for (var i = 0; i < 5; i++)
        {
            var hash = ApiKeys.Hash(Signer.Create().FullKey);
            Assert.Equal(KeyOutcome.Unknown, (await leases.ValidateAsync(hash, 0)).Outcome);
            // Remembered for a while: asked again, it costs no grain call.
            var calls = leases.GrainCalls;
            Assert.Equal(KeyOutcome.Unknown, (await leases.ValidateAsync(hash, 0)).Outcome);
            Assert.Equal(calls, leases.GrainCalls);
        }
        Assert.Equal(0, leases.KeysHeld());
    }

    /// <summary>Validations are counted and timed by the service's own instruments, and left out of the framework's
    /// per-request histogram, whose six tags per answer cost more than the metrics budget (bench/RESULTS.md).</summary>
    [Fact]
    public async Task Validations_are_counted_and_timed_on_the_hosts_meter_and_not_by_the_framework()
    {
        var (_, key) = await PublishedAsync();
        var factory = api.Services.GetRequiredService<IMeterFactory>();
        var validationDurations = new ConcurrentBag<double>();
        var requestRoutes = new ConcurrentBag<string>();
        var counters = new ConcurrentDictionary<string, long>();
        using var listener = new MeterListener();
        // Only this host's meters: every fixture's host lives in this test process.
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter.Scope, factory)
                && (instrument.Meter.Name == KeyLeases.MeterName || instrument.Name == "http.server.request.duration"))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((instrument, seconds, tags, _) =>
        {
            if (instrument.Name == "inference.key_validation.duration")
            {
                validationDurations.Add(seconds);
            }
            else
            {
                requestRoutes.Add(tags.ToArray().FirstOrDefault(t => t.Key == "http.route").Value as string ?? "");
            }
        });
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            if (instrument.Name == "inference.key_validation.validations")
            {
                var by = tags.ToArray().Single(t => t.Key == "decided_by").Value;
                counters.AddOrUpdate($"validations decided_by={by}", value, (_, sum) => sum + value);
            }
            else
            {
                counters[instrument.Name] = value;
            }
        });
        listener.Start();

        var client = api.Client();
        (await client.ValidateAsync(key)).EnsureSuccessStatusCode();
        await (await client.ValidateAsync("pk_live_not-a-key", source: NewSource())).AssertError(HttpStatusCode.Unauthorized);
        Assert.Equal(2, validationDurations.Count);
        Assert.All(validationDurations, d => Assert.True(d > 0));
        // The framework times other routes on this meter, when their request ends (just after the client has read
        // the answer): once a later request is timed, the validations before it would have been too.
        await (await api.Tenant("tenant-a").GetAsync("/api/models")).AssertOk();
        await TestEnvironment.Eventually(() => Task.FromResult(requestRoutes.ToArray()), r => r.Any(route => route.StartsWith("/api/models", StringComparison.Ordinal)),
            what: "the models listing to be timed");
        Assert.DoesNotContain(requestRoutes, r => r.StartsWith(KeyValidationApi.Path, StringComparison.Ordinal));
        // The first validation of a key asks for its lease (the junk one never reached a grain); a second is local.
        (await client.ValidateAsync(key)).EnsureSuccessStatusCode();
        listener.RecordObservableInstruments();
        Assert.True(counters.GetValueOrDefault("validations decided_by=lease") >= 1, $"counters: {string.Join(", ", counters)}");
        Assert.Equal(1, counters.GetValueOrDefault("validations decided_by=signature"));
        Assert.True(counters.ContainsKey("inference.key_validation.grain_calls"), $"counters: {string.Join(", ", counters)}");
    }

    [Fact]
    public async Task The_per_hour_limit_is_enforced()
    {
        var (_, key) = await PublishedAsync(Config(rpm: 3, rph: 3, burst: 3));
        var client = api.Client();
        for (var i = 0; i < 3; i++)
        {
            (await client.ValidateAsync(key)).EnsureSuccessStatusCode();
        }
        var limited = await client.ValidateAsync(key);
        await limited.AssertError(HttpStatusCode.TooManyRequests, "requestsPerHour");
        Assert.True(int.Parse(limited.Headers.GetValues("Retry-After").Single()) is > 0 and <= 3600);
    }

    [Fact]
    public async Task Reported_tokens_count_against_tokens_per_hour_and_show_as_usage()
    {
        var (name, key) = await PublishedAsync(Config(rpm: 100, rph: 1000, tokens: 100, burst: 100));
        var client = api.Client();
        (await client.ValidateAsync(key, tokens: 60)).EnsureSuccessStatusCode();
        await (await client.ValidateAsync(key, tokens: 50)).AssertError(HttpStatusCode.TooManyRequests, "tokensPerHour");
        (await client.PostJson("/api/validate-api-key", new { apiKey = key, tokens = 40 })).EnsureSuccessStatusCode();
        await (await client.ValidateAsync(key)).AssertError(HttpStatusCode.TooManyRequests, "tokensPerHour");

        var usage = (await api.Tenant("tenant-a").SettledPublicationAsync(name, 2))["usage"]!;
        Assert.Equal(100, usage["tokensUsed"]!.GetValue<long>());
        Assert.Equal(2, usage["totalRequests"]!.GetValue<long>());
    }

    [Fact]
    public async Task An_expired_key_is_refused()
    {
        var expires = DateTimeOffset.UtcNow.AddSeconds(3).ToString("O");
        var (name, key) = await PublishedAsync(Config(expiresAt: expires));
        var client = api.Client();
        (await client.ValidateAsync(key)).EnsureSuccessStatusCode();
        await TestEnvironment.Eventually(async () => (await client.ValidateAsync(key)).StatusCode,
            s => s == HttpStatusCode.Unauthorized, what: "the key to expire");
        await (await client.ValidateAsync(key)).AssertError(HttpStatusCode.Unauthorized, "expired");
        var got = await (await api.Tenant("tenant-a").GetAsync($"/api/models/{name}/publish")).AssertOk();
        Assert.Equal("expired", got["status"]!.GetValue<string>());
        Assert.NotNull(got["expiresAt"]);
    }

    [Fact]
    public void Keys_are_long_random_signed_and_masked()
    {
        var a = Signer.Create();
        var b = Signer.Create();
        Assert.NotEqual(a.FullKey, b.FullKey);
        Assert.Equal(ApiKeys.Length, a.FullKey.Length);
        Assert.True(Signer.IsGenuine(a.FullKey));
        Assert.Equal(64, a.Hash.Length);
        Assert.Equal(ApiKeys.Hash(a.FullKey), a.Hash);
        Assert.Equal(a.FullKey[..14] + "...", a.Masked);
        // Any single-character change is caught by the tag (or the alphabet).
        var chars = a.FullKey.ToCharArray();
        for (var i = 8; i < chars.Length; i++)
        {
            var copy = (char[])chars.Clone();
            copy[i] = copy[i] == 'Z' ? 'Y' : 'Z';
            Assert.False(Signer.IsGenuine(new string(copy)), $"change at {i} not detected");
        }
    }
}
