namespace Inference.ApiHost.Http;

public static class ErrorResponses
{
    /// <summary>Declares the error statuses a route answers with the contract's <c>{error, details}</c> body (the
    /// OpenAPI document lists them). Statuses every route shares (401 without a token, 429 over the caller limit,
    /// 503 while the cluster reshuffles) are added by the document itself.</summary>
    public static TBuilder ProducesErrors<TBuilder>(this TBuilder builder, params int[] statuses) where TBuilder : IEndpointConventionBuilder
    {
        foreach (var status in statuses)
        {
            builder.WithMetadata(new ProducesResponseTypeMetadata(status, typeof(ErrorBody), ["application/json"]));
        }
        return builder;
    }
}
