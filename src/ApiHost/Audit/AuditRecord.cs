using System.Text.RegularExpressions;
using Inference.ApiHost.Auth;

namespace Inference.ApiHost.Audit;

/// <summary>One audited change: who, in which tenant, did what to what, with which outcome, from where. An
/// aggregated row (failed logins of one source in one minute; a caller past its bound) stands for
/// <see cref="Count"/> of them, with the minute's start as its time and no target.</summary>
public sealed record AuditRecord(
    DateTimeOffset Time, string Actor, string? Tenant, string Action, string? Target, string Outcome, int Status, string? SourceIp, int Count = 1)
{
    public const string LoginFailed = "admin.login.failed";

    public const string Success = "success";
    public const string Failure = "failure";

    /// <summary>A record of a call made by the authenticated caller of <paramref name="context"/>.</summary>
    public static AuditRecord For(HttpContext context, string action, string? tenant, string? target, int status, string? actor = null) => new(
        context.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow(),
        AuditRedaction.Scrub(actor ?? Caller.From(context.User).Subject, 256),
        tenant,
        action,
        target is null ? null : AuditRedaction.Scrub(target, 1024),
        status is >= 200 and < 400 ? Success : Failure,
        status,
        context.Connection.RemoteIpAddress?.ToString());
}

/// <summary>Keeps secrets out of free-text audit fields even when a caller pastes one where it does not belong
/// (a token in a kubectl flag, a key in a name): records are read by people who must not see them.</summary>
public static partial class AuditRedaction
{
    public static string Scrub(string text, int maxLength)
    {
        text = SecretFlag().Replace(text, "$1$2[redacted]");
        text = ApiKey().Replace(text, m => m.Value[..Math.Min(m.Value.Length, 14)] + "...");
        text = Jwt().Replace(text, "[redacted token]");
        return text.Length <= maxLength ? text : text[..maxLength] + "...";
    }

    [GeneratedRegex(@"(?<!\S)(--(?:token|password|client-key|client-certificate|username)|-p)(=|\s+)(\S+)", RegexOptions.IgnoreCase)]
    private static partial Regex SecretFlag();

    [GeneratedRegex(@"pk_(?:live|test)_[A-Za-z0-9]+")]
    private static partial Regex ApiKey();

    [GeneratedRegex(@"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")]
    private static partial Regex Jwt();
}

/// <summary>Filters of an audit query; <see cref="Tenant"/> null means every tenant (admins only). <see cref="After"/>
/// is the row key of the last record of the previous page.</summary>
public sealed record AuditQuery(string? Tenant, string? Action, DateTimeOffset? From, DateTimeOffset? To, int Limit, string? After);

/// <summary><see cref="Next"/>: while more records may follow, the row key of the last one shown.</summary>
public sealed record AuditPage(IReadOnlyList<AuditRecord> Records, string? Next);

/// <summary>The audit trail: written before the audited response completes, read newest first.</summary>
public interface IAuditLog
{
    Task WriteAsync(AuditRecord record);

    Task<AuditPage> QueryAsync(AuditQuery query, CancellationToken cancellationToken);
}
