namespace Inference.ApiHost.Predict;

/// <summary>Section "Predict": the prediction proxy.</summary>
public sealed class PredictOptions
{
    public const string Section = "Predict";

    /// <summary>How long a model may take to answer before the caller gets 504.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    public int MaxRequestBytes { get; set; } = 10 * 1024 * 1024;

    public int MaxResponseBytes { get; set; } = 10 * 1024 * 1024;

    /// <summary>How much of an upstream error body is quoted in the 502's details.</summary>
    public int MaxErrorBodyChars { get; set; } = 1024;

    public string? Problem() =>
        Timeout <= TimeSpan.Zero ? $"{Section}__{nameof(Timeout)} must be a positive time span"
        : MaxRequestBytes < 1 ? $"{Section}__{nameof(MaxRequestBytes)} must be at least 1"
        : MaxResponseBytes < 1 ? $"{Section}__{nameof(MaxResponseBytes)} must be at least 1"
        : MaxErrorBodyChars < 0 ? $"{Section}__{nameof(MaxErrorBodyChars)} must not be negative"
        : null;
}
