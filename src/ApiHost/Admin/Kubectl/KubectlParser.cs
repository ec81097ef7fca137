using System.Text;

namespace Inference.ApiHost.Admin.Kubectl;

/// <summary>Turns the text of a kubectl command into a <see cref="KubectlCommand"/>, or rejects it. Nothing here
/// ever reaches a shell: the text is split like a shell would split it only so that quoted selectors work, and
/// anything a shell would treat specially is refused outright rather than interpreted.</summary>
public static class KubectlParser
{
    public const int MaxCommandLength = 1024;
    public const int MaxTail = 500;

    public const string Allowed =
        "Allowed: get|describe RESOURCE [NAME...] [-n NAMESPACE | -A] [-l SELECTOR] [-o wide|yaml|json|name], " +
        "logs POD [-n NAMESPACE] [-c CONTAINER] [--tail N]";

    private static readonly string[] ShellMetacharacters = [";", "|", "&", "$", "`", ">", "<", "\n", "\r", "\\", "\0"];

    public static KubectlCommand Parse(string command)
    {
        var tokens = Tokenize(command);
        if (tokens.Count > 0 && tokens[0] == "kubectl")
        {
            tokens.RemoveAt(0);
        }
        if (tokens.Count == 0)
        {
            throw new KubectlRejectedException($"Empty command. {Allowed}");
        }
        var verb = tokens[0] switch
        {
            "get" => KubectlVerb.Get,
            "describe" => KubectlVerb.Describe,
            "logs" => KubectlVerb.Logs,
            var other => throw new KubectlRejectedException($"Verb '{other}' is not allowed: the console is read-only. {Allowed}"),
        };
        return Arguments(verb, tokens.Skip(1).ToList());
    }

    /// <summary>Splits on whitespace, honouring single and double quotes (no escapes, no expansion).</summary>
    public static List<string> Tokenize(string command)
    {
        if (command.Length > MaxCommandLength)
        {
            throw new KubectlRejectedException($"Command longer than {MaxCommandLength} characters");
        }
        foreach (var meta in ShellMetacharacters)
        {
            if (command.Contains(meta, StringComparison.Ordinal))
            {
                var shown = meta switch { "\n" => "newline", "\r" => "carriage return", "\0" => "NUL", _ => $"'{meta}'" };
                throw new KubectlRejectedException(
                    $"Shell syntax is not supported ({shown}): commands are not run by a shell, only parsed. {Allowed}");
            }
        }
        var tokens = new List<string>();
        var current = new StringBuilder();
        var inToken = false;
        char? quote = null;
        foreach (var c in command)
        {
            if (quote is { } q)
            {
                if (c == q)
                {
                    quote = null;
                }
                else
                {
                    current.Append(c);
                }
            }
            else if (c is '\'' or '"')
            {
                quote = c;
                inToken = true;
            }
            else if (char.IsWhiteSpace(c))
            {
                if (inToken)
                {
                    tokens.Add(current.ToString());
                    current.Clear();
                    inToken = false;
                }
            }
            else if (char.IsControl(c))
            {
                throw new KubectlRejectedException("Control characters are not allowed in a command");
            }
            else
            {
                current.Append(c);
                inToken = true;
            }
        }
        if (quote is not null)
        {
            throw new KubectlRejectedException("Unterminated quote in command");
        }
        if (inToken)
        {
            tokens.Add(current.ToString());
        }
        return tokens;
    }

    private static KubectlCommand Arguments(KubectlVerb verb, List<string> args)
    {
        string? ns = null, selector = null, container = null, output = null, tail = null;
        var all = false;
        var positional = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg == "--")
            {
                throw new KubectlRejectedException($"'--' is not supported. {Allowed}");
            }
            if (!arg.StartsWith('-') || arg == "-")
            {
                positional.Add(arg);
                continue;
            }
            var (flag, inline) = SplitFlag(arg);
            string Value()
            {
                if (inline is not null)
                {
                    return inline;
                }
                if (i + 1 >= args.Count || args[i + 1].StartsWith('-'))
                {
                    throw new KubectlRejectedException($"Flag '{flag}' needs a value");
                }
                return args[++i];
            }
            switch (flag)
            {
                case "-n" or "--namespace":
                    ns = Value();
                    break;
                case "-A" or "--all-namespaces" when verb != KubectlVerb.Logs && inline is null:
                    all = true;
                    break;
                case "-l" or "--selector" when verb != KubectlVerb.Logs:
                    selector = Value();
                    break;
                case "-o" or "--output" when verb == KubectlVerb.Get:
                    output = Value();
                    break;
                case "-c" or "--container" when verb == KubectlVerb.Logs:
                    container = Value();
                    break;
                case "--tail" when verb == KubectlVerb.Logs:
                    tail = Value();
                    break;
                case "-f" or "--follow" when verb == KubectlVerb.Logs:
                    throw new KubectlRejectedException($"'logs {flag}' (streaming) is not supported; use --tail N (at most {MaxTail}). {Allowed}");
                case "-w" or "--watch" or "--watch-only":
                    throw new KubectlRejectedException($"'{flag}' (watching) is not supported: every command returns once. {Allowed}");
                case "-f" or "--filename" or "-k" or "--kustomize":
                    throw new KubectlRejectedException($"'{flag}' (reading files) is not allowed. {Allowed}");
                case "--server" or "-s" or "--kubeconfig" or "--token" or "--context" or "--cluster" or "--user"
                    or "--as" or "--as-group" or "--raw" or "--insecure-skip-tls-verify" or "--certificate-authority"
                    or "--client-certificate" or "--client-key" or "--username" or "--password":
                    throw new KubectlRejectedException($"'{flag}' is not allowed: the console always uses the service's own cluster connection. {Allowed}");
                default:
                    throw new KubectlRejectedException($"Flag '{flag}' is not supported for '{Verb(verb)}'. {Allowed}");
            }
        }
        CheckValue(ns, "namespace", IsDnsLabel);
        CheckValue(container, "container", IsDnsLabel);
        if (ns is not null && all)
        {
            throw new KubectlRejectedException("Give either -n NAMESPACE or -A, not both");
        }
        return verb == KubectlVerb.Logs
            ? Logs(positional, ns, container, tail)
            : GetOrDescribe(verb, positional, ns, all, selector, output);
    }

    private static KubectlCommand GetOrDescribe(KubectlVerb verb, List<string> positional, string? ns, bool all, string? selector, string? output)
    {
        if (positional.Count == 0)
        {
            throw new KubectlRejectedException($"'{Verb(verb)}' needs a resource type: {KubeResource.AllowedList}");
        }
        var type = positional[0];
        var names = positional.Skip(1).ToList();
        if (type.Contains('/'))
        {
            // kubectl's TYPE/NAME form.
            if (names.Count > 0)
            {
                throw new KubectlRejectedException("Use either TYPE/NAME or TYPE NAME..., not both");
            }
            var slash = type.IndexOf('/');
            names.Add(type[(slash + 1)..]);
            type = type[..slash];
        }
        if (type.Contains(','))
        {
            throw new KubectlRejectedException($"One resource type per command. Allowed types: {KubeResource.AllowedList}");
        }
        if (KubeResource.Forbidden.Contains(type) || KubeResource.Forbidden.Contains(type.Split('.')[0]))
        {
            throw new KubectlRejectedException($"'{type}' is not readable through the console (it may hold secrets). Allowed types: {KubeResource.AllowedList}");
        }
        var resource = KubeResource.Find(type)
            ?? throw new KubectlRejectedException($"Resource type '{type}' is not allowed. Allowed types: {KubeResource.AllowedList}");
        foreach (var name in names)
        {
            CheckValue(name, "name", IsObjectName);
        }
        if (selector is not null && (selector.Length > 256 || selector.Any(c => !(char.IsAsciiLetterOrDigit(c) || "-_./=!,() ".Contains(c)))))
        {
            throw new KubectlRejectedException("Label selector has characters a selector cannot contain");
        }
        if (all && names.Count > 0)
        {
            throw new KubectlRejectedException("A resource cannot be retrieved by name across all namespaces");
        }
        var format = output switch
        {
            null => OutputFormat.Table,
            "wide" => OutputFormat.Wide,
            "yaml" => OutputFormat.Yaml,
            "json" => OutputFormat.Json,
            "name" => OutputFormat.Name,
            _ => throw new KubectlRejectedException($"Output format '{output}' is not supported; use wide, yaml, json or name"),
        };
        return new KubectlCommand(verb, resource, names, ns, all && resource.Namespaced, selector, format, null, null);
    }

    private static KubectlCommand Logs(List<string> positional, string? ns, string? container, string? tail)
    {
        if (positional.Count != 1)
        {
            throw new KubectlRejectedException($"'logs' takes exactly one pod name. {Allowed}");
        }
        var pod = positional[0];
        if (pod.StartsWith("pod/", StringComparison.Ordinal) || pod.StartsWith("pods/", StringComparison.Ordinal))
        {
            pod = pod[(pod.IndexOf('/') + 1)..];
        }
        CheckValue(pod, "pod name", IsObjectName);
        var lines = MaxTail;
        if (tail is not null)
        {
            if (!int.TryParse(tail, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out lines) || lines < -1)
            {
                throw new KubectlRejectedException("--tail must be a whole number");
            }
            // -1 means "everything" to kubectl; here everything is capped.
            lines = lines == -1 ? MaxTail : Math.Min(lines, MaxTail);
        }
        return new KubectlCommand(KubectlVerb.Logs, KubeResource.Find("pods"), [pod], ns, false, null, OutputFormat.Table, container, lines);
    }

    private static (string Flag, string? Inline) SplitFlag(string arg)
    {
        if (arg.StartsWith("--", StringComparison.Ordinal))
        {
            var eq = arg.IndexOf('=');
            return eq < 0 ? (arg, null) : (arg[..eq], arg[(eq + 1)..]);
        }
        // Short flags take their value attached too: -owide, -ntenant-a, -n=tenant-a.
        if (arg.Length > 2)
        {
            var rest = arg[2..];
            return (arg[..2], rest.StartsWith('=') ? rest[1..] : rest);
        }
        return (arg, null);
    }

    private static void CheckValue(string? value, string what, Func<string, bool> valid)
    {
        if (value is not null && !valid(value))
        {
            throw new KubectlRejectedException($"'{value}' is not a valid {what}");
        }
    }

    private static bool IsDnsLabel(string s) =>
        s.Length is > 0 and <= 63 && s.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-')
        && s[0] != '-' && s[^1] != '-';

    private static bool IsObjectName(string s) =>
        s.Length is > 0 and <= 253 && s.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '.')
        && char.IsAsciiLetterOrDigit(s[0]) && char.IsAsciiLetterOrDigit(s[^1]);

    private static string Verb(KubectlVerb verb) => verb.ToString().ToLowerInvariant();
}
