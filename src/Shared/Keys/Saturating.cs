namespace Inference.Shared.Keys;

/// <summary>Token counts come from callers: a sum that would wrap is held at the maximum, which every limit refuses.</summary>
public static class Saturating
{
    public static long Add(long a, long b) => b > long.MaxValue - a ? long.MaxValue : a + b;
}
