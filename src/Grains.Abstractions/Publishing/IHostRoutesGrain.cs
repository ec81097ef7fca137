namespace Inference.Grains.Abstractions.Publishing;

/// <summary>How a gateway tells one publication's requests from another's on the same hostname.</summary>
public enum RouteMatch
{
    /// <summary>An HTTPRoute's PathPrefix (traditional publications): the value is the normalised path.</summary>
    PathPrefix = 0,

    /// <summary>An AIGatewayRoute's exact model header (openai publications): the value is the header's value.</summary>
    ModelHeader = 1,
}

/// <summary>One publication's hold on a route of one hostname (the hostname is the holding grain's key).</summary>
[GenerateSerializer, Immutable, Alias("inference.RouteClaim")]
public sealed record RouteClaim(
    [property: Id(0)] string Namespace,
    [property: Id(1)] string Model,
    [property: Id(2)] RouteMatch Match,
    [property: Id(3)] string Value);

/// <summary>The routes claimed on one public hostname, cluster-wide; key = the lower-cased hostname. One
/// activation per hostname decides every claim on it in turn, so two tenants can never both hold overlapping
/// routes.</summary>
[Alias("inference.IHostRoutesGrain")]
public interface IHostRoutesGrain : IGrainWithStringKey
{
    /// <summary>Takes the route for its publication; a Conflict when another publication holds an overlapping
    /// route. Claiming a route the same publication already holds succeeds and changes nothing.</summary>
    [Alias("Claim")]
    Task<Result<bool>> ClaimAsync(RouteClaim claim);

    /// <summary>Gives the route up; releasing a route that is not held changes nothing.</summary>
    [Alias("Release")]
    Task ReleaseAsync(RouteClaim claim);

    [Alias("List"), ReadOnly]
    Task<IReadOnlyList<RouteClaim>> ListAsync();
}
