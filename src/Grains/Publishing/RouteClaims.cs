using Inference.Grains.Abstractions;
using Inference.Grains.Abstractions.Publishing;

namespace Inference.Grains.Publishing;

/// <summary>Which route a publication occupies on its hostname, and when two routes would catch each other's
/// requests, by the gateway's own matching rules.</summary>
public static class RouteClaims
{
    /// <summary>Hostnames match case-insensitively, and a fully qualified name's final dot names the same host.</summary>
    public static string HostKey(string hostname) => hostname.TrimEnd('.').ToLowerInvariant();

    /// <summary>An openai publication's AIGatewayRoute matches every path of its hostname and tells models apart
    /// by the exact model header alone; a traditional publication's HTTPRoute matches its path prefix.</summary>
    public static RouteClaim For(string ns, string model, PublishConfig config) =>
        config.ModelType == ModelTypes.OpenAi
            ? new RouteClaim(ns, model, RouteMatch.ModelHeader, model)
            : new RouteClaim(ns, model, RouteMatch.PathPrefix, NormalisePath(config.ExternalPath));

    /// <summary>Gateway API's PathPrefix compares whole path segments, case-sensitively, and ignores a trailing
    /// slash: "/a/b/" is "/a/b", and "/" holds the whole host.</summary>
    public static string NormalisePath(string path) =>
        "/" + string.Join('/', path.Split('/', StringSplitOptions.RemoveEmptyEntries));

    /// <summary>Two path prefixes overlap when one's segments begin the other's (equal, containing or contained);
    /// model headers are exact matches, so they overlap only when equal. A path and a header never collide here:
    /// the gateway tells them apart by route kind.</summary>
    public static bool Overlap(RouteClaim a, RouteClaim b)
    {
        if (a.Match != b.Match)
        {
            return false;
        }
        if (a.Match == RouteMatch.ModelHeader)
        {
            return string.Equals(a.Value, b.Value, StringComparison.Ordinal);
        }
        var x = Segments(a.Value);
        var y = Segments(b.Value);
        var shorter = Math.Min(x.Length, y.Length);
        for (var i = 0; i < shorter; i++)
        {
            if (!string.Equals(x[i], y[i], StringComparison.Ordinal))
            {
                return false;
            }
        }
        return true;
    }

    public static bool SameOwner(RouteClaim a, RouteClaim b) => a.Namespace == b.Namespace && a.Model == b.Model;

    /// <summary>The refusal of <paramref name="wanted"/> because <paramref name="held"/> overlaps it. Only the
    /// claimant's own tenant learns which publication holds the route; others learn only that it is taken.</summary>
    public static ApiError Conflict(string host, RouteClaim wanted, RouteClaim held)
    {
        var route = wanted.Match == RouteMatch.ModelHeader
            ? $"Model '{wanted.Value}' (the x-ai-eg-model header) on host '{host}'"
            : $"Path '{wanted.Value}' on host '{host}'";
        var holder = held.Namespace == wanted.Namespace
            ? $"overlaps the route of published model '{held.Namespace}/{held.Model}' ('{held.Value}')"
            : "is already claimed by another publication";
        return new ApiError(ErrorKind.Conflict, "Route already claimed",
            $"{route} {holder}; choose another externalPath or publicHostname");
    }

    private static string[] Segments(string path) => path.Split('/', StringSplitOptions.RemoveEmptyEntries);
}
