using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Inference.Api.Tests;

/// <summary>One grain call: the interface called, whether the API host made it (rather than a grain), and the grain's key.</summary>
public sealed record GrainCall(Type Interface, bool FromHost, string? Key = null);

/// <summary>Records the grain calls a request causes, grain-to-grain calls included: a request that carries the
/// <see cref="Header"/> has its value put in the Orleans request context, which every call it leads to carries
/// along, and the silo's incoming filter here logs each such call under that value.</summary>
public sealed class GrainCallLog : IIncomingGrainCallFilter
{
    public const string Header = "X-Test-Trace";

    private const string ContextKey = "test-trace";

    private readonly ConcurrentDictionary<string, ConcurrentQueue<GrainCall>> _calls = new();

    public async Task Invoke(IIncomingGrainCallContext context)
    {
        if (RequestContext.Get(ContextKey) is string trace)
        {
            // Calls from the API host come from the silo's hosted client; grain-to-grain calls carry the caller's id.
            var fromHost = context.SourceId is not { } source || GrainTypePrefix.IsClient(source);
            _calls.GetOrAdd(trace, _ => new()).Enqueue(new GrainCall(context.Request.GetInterfaceType(), fromHost, context.TargetId.Key.ToString()));
        }
        await context.Invoke();
    }

    /// <summary>The grain calls made on behalf of one traced request.</summary>
    public IReadOnlyList<GrainCall> Of(string trace) => _calls.TryGetValue(trace, out var calls) ? [.. calls] : [];

    /// <summary>Sends a GET with a fresh trace and returns the answer and the grain calls it caused.</summary>
    public async Task<(HttpResponseMessage Response, IReadOnlyList<GrainCall> Calls)> TracedGetAsync(HttpClient client, string url)
    {
        var trace = Guid.NewGuid().ToString("N");
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Add(Header, trace);
        var response = await client.SendAsync(request);
        return (response, Of(trace));
    }

    /// <summary>Puts a traced request's header into the request context for the calls its handler makes.</summary>
    public sealed class Middleware : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use(async (context, inner) =>
            {
                if (context.Request.Headers[Header].ToString() is not { Length: > 0 } trace)
                {
                    await inner(context);
                    return;
                }
                RequestContext.Set(ContextKey, trace);
                try
                {
                    await inner(context);
                }
                finally
                {
                    RequestContext.Remove(ContextKey);
                }
            });
            next(app);
        };
    }
}
