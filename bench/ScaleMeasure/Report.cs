using System.Diagnostics;

namespace Inference.Bench.ScaleMeasure;

/// <summary>Figures as they are measured (one line each, with the machine's load average at that moment) and the
/// correctness checks; the run fails when a check failed.</summary>
public sealed class Report
{
    private readonly List<string> _failures = [];

    public IReadOnlyList<string> Failures => _failures;

    public static string Load() => string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));

    public void Section(string title) => Console.WriteLine($"\n== {title} (load average {Load()}, {Environment.ProcessorCount} cores)");

    public void Figure(string what, string value) => Console.WriteLine($"  {what,-58} {value}   [load {Load()}]");

    public void Note(string text) => Console.WriteLine($"  {text}");

    /// <summary>A correctness check: printed as "check ok" or "CHECK FAILED", and a failure fails the run.</summary>
    public void Check(bool ok, string what)
    {
        Console.WriteLine(ok ? $"  check ok: {what}" : $"  CHECK FAILED: {what}");
        if (!ok)
        {
            _failures.Add(what);
        }
    }

    public static string Ms(double ms) => ms >= 100 ? $"{ms:0} ms" : ms >= 10 ? $"{ms:0.0} ms" : $"{ms:0.00} ms";

    public static string Bytes(double bytes) =>
        Math.Abs(bytes) >= 1 << 20 ? $"{bytes / (1 << 20):0.0} MiB" : Math.Abs(bytes) >= 1 << 10 ? $"{bytes / 1024:0.0} KiB" : $"{bytes:0} B";
}

public static class Stats
{
    /// <summary>Nearest-rank percentile of samples (sorted here).</summary>
    public static double Percentile(IReadOnlyList<double> samples, double p)
    {
        if (samples.Count == 0)
        {
            return double.NaN;
        }
        var sorted = samples.Order().ToArray();
        var rank = (int)Math.Ceiling(p / 100 * sorted.Length) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Length - 1)];
    }

    public static string P50P99(IReadOnlyList<double> samples) =>
        $"p50 {Report.Ms(Percentile(samples, 50))}, p99 {Report.Ms(Percentile(samples, 99))} (n={samples.Count})";

    public static double Since(long timestamp) => Stopwatch.GetElapsedTime(timestamp).TotalMilliseconds;
}

/// <summary>The run's time bound: every wait takes at most what is left of it.</summary>
public sealed class Budget(TimeSpan total)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public TimeSpan Left => total - _clock.Elapsed;

    public TimeSpan AtMost(TimeSpan wanted) => Left < wanted ? (Left > TimeSpan.Zero ? Left : TimeSpan.Zero) : wanted;

    public void ThrowIfSpent(string what)
    {
        if (Left <= TimeSpan.Zero)
        {
            throw new TimeoutException($"the run's time bound ({total}) was reached during {what}");
        }
    }
}
