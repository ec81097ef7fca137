namespace KubeEmulator.Hosting;

/// <summary>Writes a kubeconfig for the bound address so kubectl and KubernetesClient can connect over plain HTTP.</summary>
internal static class KubeconfigWriter
{
    public const string ContextName = "inference-in-a-box-emulator";
    public const string Token = "emulator-token";

    public static void Write(string path, string server)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null) Directory.CreateDirectory(directory);
        File.WriteAllText(path, $"""
            apiVersion: v1
            kind: Config
            clusters:
            - name: {ContextName}
              cluster:
                server: {server}
            users:
            - name: emulator-admin
              user:
                token: {Token}
            contexts:
            - name: {ContextName}
              context:
                cluster: {ContextName}
                user: emulator-admin
                namespace: default
            current-context: {ContextName}

            """);
    }
}
