using System.Globalization;
using KubeEmulator.Api;

namespace KubeEmulator.Http;

/// <summary>
/// Query parameters read the way the apiserver's parameter codec converts them into its option structs
/// (k8s.io/apimachinery/pkg/runtime Convert_Slice_string_To_*): the first value counts.
/// </summary>
internal static class QueryParams
{
    /// <summary>
    /// Absent is false; "0" and "false" in any letter case are false; anything else, the empty string included, is
    /// true. This is Convert_Slice_string_To_bool, not strconv.ParseBool: the apiserver never refuses a boolean, so
    /// the Python client's <c>watch=True</c> and a bare <c>?watch</c> both start a watch.
    /// </summary>
    public static bool Bool(HttpRequest request, string name)
    {
        if (!request.Query.TryGetValue(name, out var values) || values.Count == 0) return false;
        var first = values[0] ?? "";
        return !(first == "0" || first.Equals("false", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>An int64 option (limit, timeoutSeconds, ...): null when absent; a value strconv.ParseInt refuses is a 400.</summary>
    public static long? Int64(HttpRequest request, string name)
    {
        if (!request.Query.TryGetValue(name, out var values) || values.Count == 0) return null;
        var text = values[0] ?? "";
        // strconv.ParseInt(s, 10, 64): one optional sign, then decimal digits only.
        var digits = text.Length > 0 && text[0] is '+' or '-' ? text[1..] : text;
        if (digits.Length == 0 || !digits.All(char.IsAsciiDigit))
            throw ApiException.BadRequest($"strconv.ParseInt: parsing \"{text}\": invalid syntax");
        if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
            throw ApiException.BadRequest($"strconv.ParseInt: parsing \"{text}\": value out of range");
        return value;
    }

    public static string? String(HttpRequest request, string name) =>
        request.Query.TryGetValue(name, out var values) && values.Count > 0 ? values[0] : null;
}
