using System.Buffers.Binary;
using System.Globalization;
using DetKafka.Core.Groups;
using DetKafka.Core.Protocol;
using DetKafka.Core.Records;
using DetKafka.Sim.World;

namespace DetKafka.Sim.Invariants;

/// <summary>
/// What the consumer-group checks remember during a run (docs/design/GROUPS.md): which member owned which
/// partition in each generation, which values records (partition and offset) the group's members processed and how often, and the highest
/// commit each partition had acknowledged. The workload reports to it; <see cref="GroupInvariant"/> turns what
/// it found into a violation after the event, and <see cref="FinalCheck"/> checks at-least-once at the end.
/// </summary>
public sealed class GroupObserver(GroupWorkload spec)
{
    private readonly SortedDictionary<int, SortedDictionary<int, string>> _owners = new();
    private readonly Dictionary<(int Partition, long Offset), int> _processed = new();
    private readonly SortedDictionary<TopicPartition, long> _ackedCommits = new(TopicPartitionComparer.Instance);

    public GroupWorkload Spec { get; } = spec;

    /// <summary>The first violation found (by checker name), reported by <see cref="GroupInvariant"/>.</summary>
    public (string Checker, string Message)? Violation { get; private set; }

    public IReadOnlyDictionary<TopicPartition, long> AckedCommits => _ackedCommits;

    public long ProcessedCount => _processed.Count;

    private void Fail(string checker, string message) => Violation ??= (checker, message);

    /// <summary>A member got its assignment for a generation: no partition may have another owner in it.</summary>
    public void OnAssigned(int generation, string member, IReadOnlyList<TopicPartition> partitions)
    {
        if (!_owners.TryGetValue(generation, out var owners)) _owners[generation] = owners = new SortedDictionary<int, string>();
        foreach (var tp in partitions)
        {
            if (owners.TryGetValue(tp.Partition, out var other) && other != member)
                Fail("group-single-owner", $"generation {generation}: {tp} assigned to {member} and to {other}");
            owners[tp.Partition] = member;
        }
    }

    /// <summary>The application processed a record's value.</summary>
    public void OnProcessed(long value, string member, TopicPartition tp, long offset)
    {
        // By position, not value: a producer retry without idempotence may write a value twice.
        var key = (tp.Partition, offset);
        int n = _processed.GetValueOrDefault(key) + 1;
        _processed[key] = n;
        if (n > 1 && !Spec.CommitAfterProcess)
            Fail("group-at-most-once", $"value {value} ({tp}@{offset}) processed twice with commit-before-process (again by {member})");
    }

    public void OnCommitAcked(TopicPartition tp, long offset)
    {
        if (offset > _ackedCommits.GetValueOrDefault(tp, -1)) _ackedCommits[tp] = offset;
    }

    internal void Report(string checker, string message) => Fail(checker, message);

    /// <summary>At the end of a passing run with commit-after-process: every record below the high watermark of
    /// the leader's log (each of them acknowledged or at least durable) was processed by some member.</summary>
    public string? FinalCheck(SimWorld world)
    {
        if (!Spec.CommitAfterProcess) return null;
        var topic = world.Options.Workload.Topic;
        var records = new List<DecodedRecord>();
        for (int p = 0; p < world.Options.Workload.Partitions; p++)
        {
            // The leader's replica: its high watermark is what was committed.
            var log = world.LeaderPartition(new TopicPartition(topic, p))?.Log;
            if (log is null) continue;
            long offset = log.LogStartOffset;
            for (int round = 0; offset < log.HighWatermark && round < 1_000_000; round++)
            {
                var read = log.Read(offset, 1 << 20, log.HighWatermark);
                records.Clear();
                if (read.Records.Length == 0 || RecordBatchDecoder.Decode(read.Records.Span, records) != Core.Protocol.ErrorCode.None || records.Count == 0) break;
                foreach (var r in records)
                {
                    if (r.Offset < offset || r.Offset >= log.HighWatermark) continue;
                    long value = r.Value is { Length: 8 } v ? BinaryPrimitives.ReadInt64BigEndian(v) : -1;
                    if (!_processed.ContainsKey((p, r.Offset)))
                        return string.Create(CultureInfo.InvariantCulture, $"{topic}-{p}@{r.Offset} (value {value}) was never processed by the group (commit-after-process)");
                }
                offset = records[^1].Offset + 1;
            }
        }
        return null;
    }
}

/// <summary>
/// The group checks after every event: what <see cref="GroupObserver"/> found (two owners of a partition in one
/// generation, a value processed twice under commit-before-process), and on every node that changed, that each
/// committed offset of the group never goes backwards and is at least the highest acknowledged commit (an
/// acknowledged commit survives crashes).
/// </summary>
public sealed class GroupInvariant : IInvariantChecker
{
    private readonly Dictionary<int, SortedDictionary<TopicPartition, long>> _seen = new();

    public string Name => "group";

    public string? Check(InvariantContext context)
    {
        if (context.World.Groups is not { } observer) return null;
        if (observer.Violation is { } v) return $"[{v.Checker}] {v.Message}";
        foreach (var node in context.TouchedThisEvent)
        {
            if (node.Broker?.Groups.FindGroup(GroupWorkload.GroupId) is not { } group) continue;
            if (!_seen.TryGetValue(node.NodeId, out var seen)) _seen[node.NodeId] = seen = new SortedDictionary<TopicPartition, long>(TopicPartitionComparer.Instance);
            foreach (var (tp, o) in group.Offsets)
            {
                if (seen.TryGetValue(tp, out long before) && o.Offset < before)
                    return $"[group-offset-monotonic] {node.Name}: committed offset of {tp} went back from {before} to {o.Offset}";
                seen[tp] = o.Offset;
                if (observer.AckedCommits.TryGetValue(tp, out long acked) && o.Offset < acked)
                    return $"[group-offset-monotonic] {node.Name}: committed offset of {tp} is {o.Offset}, below the acknowledged commit {acked}";
            }
            foreach (var (tp, acked) in observer.AckedCommits)
                if (!group.Offsets.ContainsKey(tp))
                    return $"[group-offset-monotonic] {node.Name}: the acknowledged commit {acked} of {tp} is gone";
        }
        return null;
    }
}
