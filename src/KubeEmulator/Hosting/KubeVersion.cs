using System.Text.Json.Nodes;

namespace KubeEmulator.Hosting;

/// <summary>The Kubernetes version the emulator reports; the build metadata says it is an emulator.</summary>
internal static class KubeVersion
{
    public const string GitVersion = "v1.33.1";

    public static JsonObject Info() => new()
    {
        ["major"] = "1",
        ["minor"] = "33",
        ["gitVersion"] = GitVersion + "+inference-in-a-box-emulator",
        ["gitCommit"] = "emulator",
        ["gitTreeState"] = "clean",
        ["buildDate"] = "2026-01-01T00:00:00Z",
        ["goVersion"] = "n/a (KubeEmulator on .NET)",
        ["compiler"] = "dotnet",
        ["platform"] = "linux/amd64",
    };
}
