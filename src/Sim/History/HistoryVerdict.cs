using System.Globalization;
using DetKafka.Core.Storage;

namespace DetKafka.Sim.History;

/// <summary>
/// Judges a finished run's history against what the run's configuration promised. Returns one line per
/// anomaly found (empty: the history is fine). The runner calls it once, after the liveness phase succeeded.
/// </summary>
public delegate IReadOnlyList<string> HistoryChecker(History history, SimulationOptions options);

public static class HistoryVerdict
{
    /// <summary>
    /// The checker <see cref="Simulation.Run"/> uses unless told otherwise.
    /// TODO(checker helper): replace with the real checker from src/Sim/Checkers once it lands.
    /// </summary>
    public static HistoryChecker Default { get; } = PlaceholderHistoryChecker.Check;
}

/// <summary>
/// PLACEHOLDER, to be replaced by the history checker in src/Sim/Checkers (see <see cref="HistoryVerdict.Default"/>).
/// It checks only two things: every acknowledged send (an Ok with an offset) was eventually polled
/// ("unseen" / "lost-write"), and no offset of a partition was read, or acknowledged, with two different
/// values ("inconsistent-offsets", which is how an acknowledged write lost in a crash shows once the offset
/// is reused).
/// </summary>
public static class PlaceholderHistoryChecker
{
    public const int ProblemsMax = 20;

    public static IReadOnlyList<string> Check(History history, SimulationOptions options)
    {
        var problems = new List<string>();
        var polled = new HashSet<(TopicPartition, long)>();
        var atOffset = new Dictionary<(TopicPartition, long), long>();
        void Claim(TopicPartition tp, long offset, long value, string how)
        {
            if (!atOffset.TryGetValue((tp, offset), out long existing)) atOffset[(tp, offset)] = value;
            else if (existing != value && problems.Count < ProblemsMax)
                problems.Add(string.Create(CultureInfo.InvariantCulture,
                    $"inconsistent-offsets: {tp} offset {offset} holds {existing} and {value} ({how})"));
        }

        foreach (var op in history.Operations)
        {
            if (op.Type != OpType.Ok || op.Kind != OpKind.Poll) continue;
            foreach (var micro in op.Value)
            {
                if (micro is not PollOp poll) continue;
                foreach (var p in poll.Partitions)
                {
                    foreach (var r in p.Records)
                    {
                        polled.Add((p.Partition, r.Value));
                        Claim(p.Partition, r.Offset, r.Value, "read");
                    }
                }
            }
        }
        foreach (var op in history.Operations)
        {
            if (op.Type != OpType.Ok || op.Kind != OpKind.Send) continue;
            foreach (var micro in op.Value)
            {
                if (micro is not SendOp { Offset: { } offset } send) continue;
                Claim(send.Partition, offset, send.Value, "acknowledged");
                if (!polled.Contains((send.Partition, send.Value)) && problems.Count < ProblemsMax)
                    problems.Add(string.Create(CultureInfo.InvariantCulture,
                        $"unseen: value {send.Value} acknowledged at {send.Partition} offset {offset} (op {op.Index}, process {op.Process}) was never polled"));
            }
        }
        return problems;
    }
}
