using Inference.Grains.Abstractions.Models;

namespace Inference.Grains.Models;

[GenerateSerializer, Alias("inference.ModelState")]
public sealed class ModelState
{
    [Id(0)] public bool Exists { get; set; }
    [Id(1)] public string Uid { get; set; } = "";
    [Id(2)] public ModelSpec Spec { get; set; } = new("", "");
    [Id(3)] public ObservedStatus Status { get; set; } = ObservedStatus.Pending;
    [Id(4)] public ReplicaCounts? Replicas { get; set; }
    [Id(5)] public DateTimeOffset CreatedAt { get; set; }
    [Id(6)] public DateTimeOffset UpdatedAt { get; set; }
    [Id(7)] public long Generation { get; set; }

    /// <summary>When this grain first recorded the model, by the silo's clock.</summary>
    [Id(8)] public DateTimeOffset RecordedAt { get; set; }

    /// <summary>Uids of InferenceServices this model had and lost, newest last. The watch can still deliver events
    /// for them after the deletion; they must not bring the model back.</summary>
    [Id(9)] public List<string> GoneUids { get; set; } = [];

    public const int GoneUidsKept = 8;
}
