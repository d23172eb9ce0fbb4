using System.Globalization;
using System.Text;
using DetKafka.Core.Protocol;

namespace DetKafka.Sim.Checkers;

/// <summary>
/// One anomaly found in a history. <paramref name="Operations"/> are indexes into the history (completions, or the
/// invoke of an operation that never completed), the ones that together show the anomaly. <paramref name="Partition"/>
/// is null for dependency cycles, which may span partitions. <paramref name="Forbidden"/> says whether the run's
/// <see cref="CheckerOptions"/> promised it could not happen; the rest are reported for information.
/// </summary>
public sealed record Anomaly(
    string Name,
    TopicPartition? Partition,
    IReadOnlyList<int> Operations,
    string Explanation,
    bool Forbidden)
{
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture,
            $"{Name}{(Forbidden ? "" : " (allowed)")}{(Partition is { } p ? " " + p : "")} ops [{string.Join(", ", Operations)}]: {Explanation}");
}

/// <summary>The verdict on a history: every anomaly counted by name, the first few of each kept in detail.</summary>
public sealed class CheckResult
{
    internal CheckResult(CheckerOptions options, IReadOnlyList<Anomaly> anomalies,
        IReadOnlyDictionary<string, int> counts, IReadOnlyDictionary<string, int> forbiddenCounts, int operations)
    {
        Options = options;
        Anomalies = anomalies;
        Counts = counts;
        ForbiddenCounts = forbiddenCounts;
        OperationCount = operations;
    }

    public CheckerOptions Options { get; }

    /// <summary>The anomalies kept in detail, at most <see cref="CheckerOptions.MaxReportedPerName"/> per name and
    /// verdict, in the order the checker found them.</summary>
    public IReadOnlyList<Anomaly> Anomalies { get; }

    /// <summary>Every anomaly found, forbidden or not, by name (sorted ordinally).</summary>
    public IReadOnlyDictionary<string, int> Counts { get; }

    /// <summary>The forbidden anomalies by name (sorted ordinally).</summary>
    public IReadOnlyDictionary<string, int> ForbiddenCounts { get; }

    /// <summary>The history's length.</summary>
    public int OperationCount { get; }

    /// <summary>No forbidden anomaly: the run kept every promise its options made.</summary>
    public bool IsValid => ForbiddenCounts.Count == 0;

    public int Count(string name) => Counts.TryGetValue(name, out int n) ? n : 0;

    public int ForbiddenCount(string name) => ForbiddenCounts.TryGetValue(name, out int n) ? n : 0;

    public IEnumerable<Anomaly> Named(string name) => Anomalies.Where(a => a.Name == name);

    /// <summary>A few lines for a failing seed's report: the verdict, counts, and the kept forbidden anomalies.</summary>
    public string Summary(int maxLines = 20)
    {
        var sb = new StringBuilder();
        sb.Append(IsValid ? "valid" : "INVALID").Append(CultureInfo.InvariantCulture, $" ({OperationCount} ops)");
        foreach (var (name, n) in Counts)
        {
            int bad = ForbiddenCount(name);
            sb.Append(CultureInfo.InvariantCulture, $"; {name}: {n}{(bad > 0 ? $" ({bad} forbidden)" : " (allowed)")}");
        }
        sb.AppendLine();
        int lines = 0;
        foreach (var a in Anomalies.Where(a => a.Forbidden).Concat(Anomalies.Where(a => !a.Forbidden)))
        {
            if (lines++ >= maxLines) break;
            sb.Append("  ").AppendLine(a.ToString());
        }
        return sb.ToString();
    }
}
