using Inference.ApiHost.Admin.Kubectl;

namespace Inference.Api.Tests;

/// <summary>The parser on its own: what is allowed comes out as a command, everything else as a rejection.</summary>
public sealed class KubectlParserTests
{
    [Fact]
    public void Quotes_group_words_and_flags_take_values_in_every_kubectl_spelling()
    {
        var c = KubectlParser.Parse("kubectl get pods -l 'app in (a, b)' --namespace=tenant-a -owide");
        Assert.Equal(KubectlVerb.Get, c.Verb);
        Assert.Equal("pods", c.Resource!.Plural);
        Assert.Equal("app in (a, b)", c.Selector);
        Assert.Equal("tenant-a", c.Namespace);
        Assert.Equal(OutputFormat.Wide, c.Output);

        var d = KubectlParser.Parse("describe isvc/my-model -n \"tenant-b\"");
        Assert.Equal(KubectlVerb.Describe, d.Verb);
        Assert.Equal("inferenceservices", d.Resource!.Plural);
        Assert.Equal(["my-model"], d.Names);
        Assert.Equal("tenant-b", d.Namespace);
    }

    [Theory]
    [InlineData("po", "pods")]
    [InlineData("deploy", "deployments")]
    [InlineData("svc", "services")]
    [InlineData("ns", "namespaces")]
    [InlineData("no", "nodes")]
    [InlineData("isvc", "inferenceservices")]
    [InlineData("inferenceservices.serving.kserve.io", "inferenceservices")]
    [InlineData("httproutes", "httproutes")]
    [InlineData("btp", "backendtrafficpolicies")]
    [InlineData("sp", "securitypolicies")]
    [InlineData("aigatewayroutes", "aigatewayroutes")]
    public void Short_and_qualified_names_resolve(string given, string plural) =>
        Assert.Equal(plural, KubectlParser.Parse($"get {given}").Resource!.Plural);

    [Theory]
    [InlineData("logs p", KubectlParser.MaxTail)]
    [InlineData("logs p --tail 5", 5)]
    [InlineData("logs p --tail=100000", KubectlParser.MaxTail)]
    [InlineData("logs p --tail -1", KubectlParser.MaxTail)]
    public void Log_tails_are_capped(string command, int tail)
    {
        // "--tail -1" looks like a flag to the value reader, so it is given the = form to mean -1.
        var parsed = KubectlParser.Parse(command.Replace("--tail -1", "--tail=-1"));
        Assert.Equal(tail, parsed.Tail);
    }

    [Theory]
    [InlineData("get pods; rm -rf /", "shell")]
    [InlineData("get pods $(id)", "shell")]
    [InlineData("get pods `id`", "shell")]
    [InlineData("get pods | sh", "shell")]
    [InlineData("get pods && reboot", "shell")]
    [InlineData("get pods > /tmp/x", "shell")]
    [InlineData("get pods\nid", "shell")]
    [InlineData("get pods 'unterminated", "quote")]
    [InlineData("get secrets", "secrets")]
    [InlineData("get secret/x -n tenant-a", "secret")]
    [InlineData("get configmaps", "configmaps")]
    [InlineData("get cm -A", "cm")]
    [InlineData("describe secrets", "secrets")]
    [InlineData("get pods --server https://evil", "--server")]
    [InlineData("get pods --kubeconfig /etc/kubeconfig", "--kubeconfig")]
    [InlineData("get pods --token abc", "--token")]
    [InlineData("get --raw /api/v1/secrets", "--raw")]
    [InlineData("get -f pod.yaml", "-f")]
    [InlineData("exec -it p -- sh", "exec")]
    [InlineData("delete pod p", "delete")]
    [InlineData("apply -f x.yaml", "apply")]
    [InlineData("edit deploy d", "edit")]
    [InlineData("port-forward p 8080", "port-forward")]
    [InlineData("get pods -w", "-w")]
    [InlineData("get pods --watch", "--watch")]
    [InlineData("logs p -f", "logs -f")]
    [InlineData("logs p --follow", "--follow")]
    [InlineData("get widgets", "widgets")]
    [InlineData("get pods --frobnicate", "--frobnicate")]
    [InlineData("get pods -o go-template={{.}}", "go-template")]
    [InlineData("", "Empty")]
    public void Everything_outside_the_allow_list_is_rejected_with_a_reason(string command, string mentioned)
    {
        var e = Assert.Throws<KubectlRejectedException>(() => KubectlParser.Parse(command));
        Assert.Contains(mentioned, e.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData(0, "0s")]
    [InlineData(59, "59s")]
    [InlineData(119, "119s")]
    [InlineData(300, "5m")]
    [InlineData(330, "5m30s")]
    [InlineData(3600, "60m")]
    [InlineData(4 * 3600 + 60, "4h1m")]
    [InlineData(20 * 3600, "20h")]
    [InlineData(2 * 86400, "2d")]
    [InlineData(3 * 86400 + 3600, "3d1h")]
    [InlineData(40 * 86400, "40d")]
    [InlineData(3 * 365 * 86400, "3y")]
    public void Ages_read_like_kubectl(int seconds, string age) => Assert.Equal(age, Ages.Human(TimeSpan.FromSeconds(seconds)));
}
