using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using Inference.ApiHost;
using Xunit;

namespace Inference.Api.Tests;

/// <summary>The API host talks to grains through their interfaces (Grains.Abstractions) and applies the rules both
/// sides share (Shared); it never reaches into a grain implementation. It references the silo project only to co-host
/// a silo in the embedded box and to configure its cluster client the way silos are configured.</summary>
public sealed class LayeringTests
{
    private static readonly HashSet<string> HostingTypes =
    [
        "Inference.Silo.SiloConfiguration",
        "Inference.Silo.ClusterSettings",
        "Inference.Silo.ClusteringMode",
        "Inference.Silo.ClusterTls",
        "Inference.Silo.FailureDetection",
        "Inference.Silo.ShutdownBoundExtensions",
        // Metrics, traces and log format, set up the same way in silos and API hosts.
        "Inference.Silo.Telemetry",
    ];

    [Fact]
    public void The_api_host_uses_no_type_of_the_grain_implementations()
    {
        var used = ReferencedTypes("Inference.Grains");

        Assert.Empty(used);
    }

    [Fact]
    public void The_api_host_uses_only_the_silo_projects_hosting_types()
    {
        var used = ReferencedTypes("Inference.Silo");

        Assert.NotEmpty(used);
        Assert.DoesNotContain(used, t => !HostingTypes.Contains(t));
    }

    /// <summary>Every type the API host's compiled code names from <paramref name="assembly"/>: a use of a type
    /// from another assembly, in a signature, a body or a generic argument, is always a type reference.</summary>
    private static List<string> ReferencedTypes(string assembly)
    {
        using var stream = File.OpenRead(typeof(ApiHostApp).Assembly.Location);
        using var pe = new PEReader(stream);
        var reader = pe.GetMetadataReader();
        var found = new List<string>();
        foreach (var handle in reader.TypeReferences)
        {
            var type = reader.GetTypeReference(handle);
            var scope = type.ResolutionScope;
            while (scope.Kind == HandleKind.TypeReference)
            {
                scope = reader.GetTypeReference((TypeReferenceHandle)scope).ResolutionScope;
            }
            if (scope.Kind == HandleKind.AssemblyReference
                && reader.GetString(reader.GetAssemblyReference((AssemblyReferenceHandle)scope).Name) == assembly)
            {
                found.Add($"{reader.GetString(type.Namespace)}.{reader.GetString(type.Name)}");
            }
        }
        return found;
    }
}
