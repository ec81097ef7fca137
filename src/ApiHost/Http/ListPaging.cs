using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Inference.ApiHost.Auth;
using Inference.Grains.Abstractions;
using Inference.Grains.Abstractions.Tenants;
using Inference.Shared.Models;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Inference.ApiHost.Http;

/// <summary>What a list request asked for: the position to resume after (none: from the start) and how many items
/// at most (<see cref="int.MaxValue"/>: every one, the contract's unpaged answer).</summary>
public sealed record ListRequest(ListPosition? After, int Limit);

/// <summary>Where a page ends, as a token names it: a list across tenants' (tenant, name), or the audit trail's row
/// key (no tenant).</summary>
public sealed record TokenPosition(string? Tenant, string Name);

/// <summary>A list across tenants as <see cref="ListPaging"/> pages it: its name (tokens are bound to it), how a
/// tenant's grain and the listing grain read one page of it, and where an item stands in (tenant, name) order.</summary>
public sealed record PagedList<TView>(
    string Name,
    Func<ITenantGrain, string?, int, Task<ListPage<TView>>> OfTenant,
    Func<ITenantListingGrain, ListPosition?, int, Task<ListPage<TView>>> OfAll,
    Func<TView, ListPosition> Position);

/// <summary>Kubernetes-style paging, the one paging of every paged endpoint (the model and publication lists, the
/// audit trail): an optional <c>limit</c> and an opaque <c>continue</c> token naming the last item shown, which the
/// answer carries while more may follow and the next request passes back. List items are in (tenant, name) order, so
/// a walk shows every item that existed throughout it exactly once, whatever is created or deleted meanwhile (as a
/// Kubernetes list does; an item created behind the position is not shown).
/// <para>A token carries the list and the tenant scope it was issued for and is signed (HMAC-SHA256 with a key
/// derived from JWT_SECRET, which every API host shares): a token the service did not issue, one changed by hand,
/// one of another list, or one issued for another scope (another tenant, or an admin's all-tenants walk passed with a
/// namespace) is a 400. The scope itself is never taken from the token: it is the caller's, decided by the tenant
/// scope filter, and a tenant's list reads only that tenant's grain.</para></summary>
public sealed class ListPaging(AuthSettings auth)
{
    /// <summary>The largest page a client may ask for.</summary>
    public const int MaxLimit = 500;

    /// <summary>Longer than any token this service issues (two DNS names and a model name or an audit row key, encoded).</summary>
    private const int MaxTokenLength = 1024;

    private const int TokenVersion = 1;

    private const int MacBytes = 16;

    /// <summary>The query parameter, and the answers' field, that carry the token on every paged endpoint.</summary>
    public const string Parameter = "continue";

    public const string Models = "models";

    public const string Published = "published-models";

    public const string Audit = "audit";

    public const string LimitDescription = "At most this many items (1-500); without it, every item in one answer. When more remain, the answer carries 'continue'.";

    public const string ContinueDescription = "The 'continue' token of the previous page of this list, to read the next one (same caller and scope: namespace, or the audit trail's tenant; a token the service did not issue for this list and scope is a 400).";

    /// <summary>Its own key, derived from the JWT secret, so a continue token can never pass for a login token nor
    /// the other way round.</summary>
    private readonly byte[] _key = HMACSHA256.HashData(Encoding.UTF8.GetBytes(auth.JwtSecret), "inference-in-a-box list continue token"u8);

    /// <summary>The answer to a list request: one page of <paramref name="list"/> in the caller's scope (a tenant's
    /// from its own grain, every tenant's from the listing grain), its items mapped by <paramref name="item"/>, and the
    /// token for the next page; or the 400 for a bad <c>limit</c> or <c>continue</c>.</summary>
    public async Task<Results<Ok<TResponse>, ErrorResult>> ListAsync<TView, TItem, TResponse>(IGrainFactory grains, PagedList<TView> list,
        TenantScope scope, string? limit, string? token, Func<TView, TItem> item, Func<IReadOnlyList<TItem>, string?, TResponse> answer)
    {
        var (request, error) = Read(list.Name, scope, limit, token);
        if (error is not null)
        {
            return error;
        }
        var page = scope.Namespace is { } ns
            ? await list.OfTenant(grains.GetGrain<ITenantGrain>(ns), request.After?.Name, request.Limit)
            : await list.OfAll(grains.GetGrain<ITenantListingGrain>(0), request.After, request.Limit);
        return TypedResults.Ok(answer(page.Items.Select(item).ToList(), Continue(list.Name, scope, page, list.Position)));
    }

    /// <summary>Reads <c>limit</c> and <c>continue</c> of a request to <paramref name="list"/> in <paramref name="scope"/>.</summary>
    private (ListRequest Request, ErrorResult? Error) Read(string list, TenantScope scope, string? limit, string? token)
    {
        if (ReadLimit(limit, int.MaxValue, MaxLimit, out var size) is { } invalid)
        {
            return (new ListRequest(null, 0), invalid);
        }
        // A position in a tenant's list is in that tenant: a tenant-scoped token naming another is refused.
        var (after, error) = ReadToken(list, scope, token, (tenant, name) =>
            ModelRules.IsNamespace(tenant) && ModelRules.CheckName(name) is null && (scope.Namespace is null || tenant == scope.Namespace));
        return error is not null ? (new ListRequest(null, 0), error) : (new ListRequest(after is { } a ? new ListPosition(a.Tenant!, a.Name) : null, size), null);
    }

    /// <summary>The position a <c>continue</c> token names: none without a token; the 400 for a token this service
    /// did not issue for <paramref name="list"/> in the caller's <paramref name="scope"/>, or whose position
    /// <paramref name="valid"/> refuses. <paramref name="parameter"/> is the query parameter the 400 names.</summary>
    public (TokenPosition? After, ErrorResult? Error) ReadToken(string list, TenantScope scope, string? token, Func<string?, string, bool> valid,
        string parameter = Parameter)
    {
        if (string.IsNullOrEmpty(token))
        {
            return (null, null);
        }
        if (Open(token) is not { } body || body.List != list || body.Scope != scope.Namespace || !valid(body.Tenant, body.Name))
        {
            return (null, ApiResults.Invalid(
                $"Query parameter '{parameter}' is not a token this service issued for this list and scope; start the list again without it"));
        }
        return (new TokenPosition(body.Tenant, body.Name), null);
    }

    /// <summary>A page size: <paramref name="unset"/> when the query gave none, else a whole number from 1 to
    /// <paramref name="max"/>; anything else is the 400 every paged endpoint answers.</summary>
    public static ErrorResult? ReadLimit(string? limit, int unset, int max, out int size)
    {
        size = unset;
        return limit is null || (int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out size) && size is >= 1 && size <= max)
            ? null
            : ApiResults.Invalid($"Query parameter 'limit' must be a whole number from 1 to {max}");
    }

    /// <summary>The token for the page after <paramref name="page"/>, or null when it is the last.</summary>
    private string? Continue<T>(string list, TenantScope scope, ListPage<T> page, Func<T, ListPosition> position)
    {
        if (!page.More || page.Items.Count == 0)
        {
            return null;
        }
        var last = position(page.Items[^1]);
        return Issue(list, scope, new TokenPosition(last.Tenant, last.Name));
    }

    /// <summary>A token for the page of <paramref name="list"/> after <paramref name="after"/>, bound to the
    /// caller's <paramref name="scope"/>.</summary>
    public string Issue(string list, TenantScope scope, TokenPosition after)
    {
        var payload = JsonSerializer.SerializeToUtf8Bytes(new TokenBody(TokenVersion, list, scope.Namespace, after.Tenant, after.Name));
        return Base64Url.EncodeToString(payload) + "." + Base64Url.EncodeToString(Mac(payload));
    }

    private TokenBody? Open(string token)
    {
        var dot = token.IndexOf('.');
        if (token.Length > MaxTokenLength || dot <= 0)
        {
            return null;
        }
        try
        {
            var payload = Base64Url.DecodeFromChars(token.AsSpan(0, dot));
            var mac = Base64Url.DecodeFromChars(token.AsSpan(dot + 1));
            if (!CryptographicOperations.FixedTimeEquals(mac, Mac(payload)))
            {
                return null;
            }
            var body = JsonSerializer.Deserialize<TokenBody>(payload);
            return body is { V: TokenVersion, List: not null, Name: not null } ? body : null;
        }
        catch (Exception e) when (e is FormatException or JsonException)
        {
            return null;
        }
    }

    private byte[] Mac(byte[] payload) => HMACSHA256.HashData(_key, payload)[..MacBytes];

    /// <summary>Short names: the token travels in a URL.</summary>
    private sealed record TokenBody(
        [property: JsonPropertyName("v")] int V,
        [property: JsonPropertyName("l")] string List,
        [property: JsonPropertyName("s")] string? Scope,
        [property: JsonPropertyName("t")] string? Tenant,
        [property: JsonPropertyName("n")] string Name);
}
