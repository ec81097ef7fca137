namespace Inference.Grains;

/// <summary>Names of the grain storage providers the silo must register.</summary>
public static class StorageNames
{
    /// <summary>Durable state: specs, publications, key records, indexes.</summary>
    public const string State = "state";
}
