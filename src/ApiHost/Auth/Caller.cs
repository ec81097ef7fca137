using System.Security.Claims;

namespace Inference.ApiHost.Auth;

/// <summary>Who is calling, from a verified token.</summary>
public sealed record Caller(string Subject, string Name, string Tenant, bool IsAdmin)
{
    public const string TenantClaim = "tenant";
    public const string AdminClaim = "isAdmin";
    public const string NameClaim = "name";
    public const string SubjectClaim = "sub";

    public static Caller From(ClaimsPrincipal user) => new(
        user.FindFirstValue(SubjectClaim) ?? "",
        user.FindFirstValue(NameClaim) ?? "",
        user.FindFirstValue(TenantClaim) ?? "",
        IsAdminPrincipal(user));

    public static bool IsAdminPrincipal(ClaimsPrincipal user) =>
        string.Equals(user.FindFirstValue(AdminClaim), "true", StringComparison.OrdinalIgnoreCase);
}
