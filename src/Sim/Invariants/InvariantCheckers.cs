using System.Globalization;
using DetKafka.Core.Protocol;
using DetKafka.Core.Records;
using DetKafka.Core.Storage;
using DetKafka.Sim.History;
using DetKafka.Sim.World;
using SimHistory = DetKafka.Sim.History.History;

namespace DetKafka.Sim.Invariants;

/// <summary>What an invariant checker sees after an event: the nodes (running or not), the history so far, and
/// which nodes the event restarted.</summary>
public sealed class InvariantContext
{
    internal InvariantContext(SimWorld world) => World = world;

    public SimWorld World { get; }
    public long EventIndex => World.EventIndex;
    public long TimeUs => World.NowUs;
    public IReadOnlyList<SimNode> Nodes => World.Nodes;
    public SimHistory History => World.History;
    public IReadOnlyList<SimNode> RestartedThisEvent => World.RestartedInLastEvent;

    /// <summary>Nodes that took an input or restarted in this event; no other node's state changed.</summary>
    public IReadOnlyList<SimNode> TouchedThisEvent => World.TouchedInLastEvent;
}

/// <summary>
/// A node-state invariant, checked after every simulated event (Kafka's RaftEventSimulationTest does the same
/// with its invariant classes). Stateful: it may remember what it saw earlier in the run. Returns null when
/// the invariant holds, else what is wrong; the run stops at the first violation with the event index and
/// the checker's name.
/// </summary>
public interface IInvariantChecker
{
    string Name { get; }
    string? Check(InvariantContext context);
}

public static class InvariantCheckers
{
    /// <summary>Fresh instances of every node-state checker, in the order they run.</summary>
    public static IReadOnlyList<IInvariantChecker> Default() =>
    [
        new HighWatermarkMonotonic(),
        new LogStartOffsetMonotonic(),
        new AcknowledgedBelowLogEnd(),
        new RecoveredLogsValid(),
        new RecoveredIndexesNameBatches(),
        new GroupInvariant(),
        new Reach.ReferenceModelChecker(),
    ];
}

/// <summary>
/// Per node and partition, the high watermark never goes backwards, including across a crash and restart:
/// the high watermark is the synced offset, so an honest disk keeps everything below it and the recovered
/// log end (the new high watermark) is at least as far.
/// </summary>
public sealed class HighWatermarkMonotonic : IInvariantChecker
{
    private readonly MonotonicPerLog _seen = new(log => log.HighWatermark);

    public string Name => "high-watermark-monotonic";

    public string? Check(InvariantContext context)
    {
        var touched = context.TouchedThisEvent;
        for (int i = 0; i < touched.Count; i++)
        {
            var node = touched[i];
            if (_seen.FindDecrease(node) is not { } d) continue;
            return string.Create(CultureInfo.InvariantCulture,
                $"{node.Name} {d.Tp}: high watermark went back from {d.Before} to {d.Now}{(context.RestartedThisEvent.Contains(node) ? " across a restart" : "")}");
        }
        return null;
    }
}

/// <summary>Per node and partition, the log start offset never goes backwards (it is checkpointed durably
/// before it moves, and recovery takes the larger of the checkpoint and the first segment).</summary>
public sealed class LogStartOffsetMonotonic : IInvariantChecker
{
    private readonly MonotonicPerLog _seen = new(log => log.LogStartOffset);

    public string Name => "log-start-offset-monotonic";

    public string? Check(InvariantContext context)
    {
        var touched = context.TouchedThisEvent;
        for (int i = 0; i < touched.Count; i++)
        {
            var node = touched[i];
            if (_seen.FindDecrease(node) is not { } d) continue;
            return string.Create(CultureInfo.InvariantCulture,
                $"{node.Name} {d.Tp}: log start offset went back from {d.Before} to {d.Now}");
        }
        return null;
    }
}

/// <summary>
/// The last value seen per node and partition of a quantity that must not decrease. Checked after every event
/// that touched the node, so the common case is the same log objects in the same order as last time: then the
/// values sit in arrays aligned with the node's log list, with no hashing of (node, partition) keys. When the
/// layout changes (a restart opens new logs, a partition appears) the arrays go back into the dictionary,
/// which remembers every partition ever seen, and are rebuilt from it.
/// </summary>
internal sealed class MonotonicPerLog(Func<UnifiedLog, long> read)
{
    // Keyed by the topic's id too: a deleted and re-created topic is a new log that starts again at 0.
    private readonly Dictionary<(int Node, TopicPartition Tp, Guid TopicId), long> _seen = new();
    private readonly Dictionary<int, Layout> _layouts = new();

    private sealed class Layout
    {
        public UnifiedLog[] Logs = [];
        public long[] Values = [];
        public bool[] Known = [];
        public Guid[] TopicIds = [];
    }

    public (TopicPartition Tp, long Before, long Now)? FindDecrease(SimNode node)
    {
        if (node.Broker is not { } broker) return null;
        var logs = broker.Logs.Logs as IReadOnlyList<UnifiedLog> ?? broker.Logs.Logs.ToList();
        if (!_layouts.TryGetValue(node.NodeId, out var layout)) _layouts.Add(node.NodeId, layout = new Layout());
        if (!SameLogs(layout, logs)) Relayout(node.NodeId, layout, logs, broker);
        for (int i = 0; i < logs.Count; i++)
        {
            long now = read(logs[i]);
            if (layout.Known[i] && now < layout.Values[i]) return (logs[i].TopicPartition, layout.Values[i], now);
            layout.Values[i] = now;
            layout.Known[i] = true;
        }
        return null;
    }

    private static bool SameLogs(Layout layout, IReadOnlyList<UnifiedLog> logs)
    {
        if (layout.Logs.Length != logs.Count) return false;
        for (int i = 0; i < logs.Count; i++)
            if (!ReferenceEquals(layout.Logs[i], logs[i])) return false;
        return true;
    }

    private void Relayout(int nodeId, Layout layout, IReadOnlyList<UnifiedLog> logs, Core.Broker.BrokerNode broker)
    {
        for (int i = 0; i < layout.Logs.Length; i++)
            if (layout.Known[i]) _seen[(nodeId, layout.Logs[i].TopicPartition, layout.TopicIds[i])] = layout.Values[i];
        layout.Logs = new UnifiedLog[logs.Count];
        layout.Values = new long[logs.Count];
        layout.Known = new bool[logs.Count];
        layout.TopicIds = new Guid[logs.Count];
        for (int i = 0; i < logs.Count; i++)
        {
            layout.Logs[i] = logs[i];
            layout.TopicIds[i] = broker.FindTopic(logs[i].TopicPartition.Topic)?.TopicId ?? Guid.Empty;
            layout.Known[i] = _seen.TryGetValue((nodeId, logs[i].TopicPartition, layout.TopicIds[i]), out layout.Values[i]);
        }
    }
}

/// <summary>
/// Nothing acknowledged sits at or above a running node's log end offset, before or after recovery: an Ok
/// send in the history names an offset the broker promised was durable. (Single node: every node that has
/// the partition's log is its leader.)
/// </summary>
public sealed class AcknowledgedBelowLogEnd : IInvariantChecker
{
    private readonly SortedDictionary<TopicPartition, (long Offset, long Value)> _highestAcked = new(TopicPartitionComparer.Instance);
    private int _scanned;

    public string Name => "acknowledged-below-log-end";

    // A running log's end offset only grows, so a new acknowledgement is checked once against every running
    // node, and a restarted node once against everything acknowledged so far.
    public string? Check(InvariantContext context)
    {
        var ops = context.History.Operations;
        for (; _scanned < ops.Count; _scanned++)
        {
            var op = ops[_scanned];
            if (op.Type != OpType.Ok || op.Kind != OpKind.Send) continue;
            var micros = op.Value;
            for (int m = 0; m < micros.Count; m++)
            {
                if (micros[m] is not SendOp { Offset: { } offset } send) continue;
                if (!_highestAcked.TryGetValue(send.Partition, out var best) || offset > best.Offset)
                    _highestAcked[send.Partition] = (offset, send.Value);
                var nodes = context.Nodes;
                for (int n = 0; n < nodes.Count; n++)
                    if (Violation(context, nodes[n], send.Partition, (offset, send.Value)) is { } problem) return problem;
            }
        }
        // Index loops: these run after every event, and a foreach over an IReadOnlyList boxes its enumerator.
        var restarted = context.RestartedThisEvent;
        for (int r = 0; r < restarted.Count; r++)
            foreach (var (tp, acked) in _highestAcked)
                if (Violation(context, restarted[r], tp, acked) is { } problem) return problem;
        return null;
    }

    private static string? Violation(InvariantContext context, SimNode node, TopicPartition tp, (long Offset, long Value) acked)
    {
        if (node.Broker?.FindLog(tp.Topic, tp.Partition) is not { } log || acked.Offset < log.LogEndOffset) return null;
        return string.Create(CultureInfo.InvariantCulture,
            $"{node.Name} {tp}: value {acked.Value} was acknowledged at offset {acked.Offset} but the log ends at {log.LogEndOffset}{(context.RestartedThisEvent.Contains(node) ? " after recovery" : "")}");
    }
}

/// <summary>
/// After a restart, every segment file in the node's durable image (what the next crash would keep) is whole
/// record batches that pass the same validator the produce path and recovery use (lengths, CRC-32C, record
/// framing), with offsets running on without gaps: recovery cut any torn or damaged tail and synced the cut.
/// </summary>
public sealed class RecoveredLogsValid : IInvariantChecker
{
    public string Name => "recovered-logs-valid";

    public string? Check(InvariantContext context)
    {
        var restarted = context.RestartedThisEvent;
        for (int r = 0; r < restarted.Count; r++)
        {
            var node = restarted[r];
            var disk = node.Disk;
            string root = SimWorld.DataDirectory;
            if (!disk.DirectoryExists(root)) continue;
            foreach (var dir in disk.List(root))
            {
                if (!TopicPartition.TryParseDirectoryName(dir, out var tp)) continue;
                // A compacted log (the admin process's compacted topic, the internal topics) keeps its batches'
                // offsets and drops whole batches, so gaps between batches are allowed there.
                bool compacted = node.Broker?.FindTopic(tp.Topic) is { } topic && node.Broker.EffectiveConfig(topic).Compacts;
                string path = root + "/" + dir;
                if (!disk.DirectoryExists(path)) continue;
                foreach (var name in disk.List(path))
                {
                    if (!LogSegment.TryParseFileName(name, LogSegment.LogSuffix, out long baseOffset)) continue;
                    var problem = Validate(disk.ReadDurable(path + "/" + name), baseOffset, compacted);
                    if (problem is not null) return $"{node.Name} {path}/{name}: {problem}";
                }
            }
        }
        return null;
    }

    internal static string? Validate(ReadOnlySpan<byte> segment, long baseOffset, bool compacted = false)
    {
        var options = RecordValidationOptions.ForRecovery();
        int position = 0;
        long next = baseOffset;
        while (position < segment.Length)
        {
            var batch = RecordBatchValidator.ValidateBatch(segment[position..], options);
            if (!batch.IsValid)
                return string.Create(CultureInfo.InvariantCulture, $"batch at byte {position} of {segment.Length} is invalid after recovery: {batch.Error} {batch.Message}");
            if (compacted ? batch.Header.BaseOffset < next : batch.Header.BaseOffset != next)
                return string.Create(CultureInfo.InvariantCulture, $"batch at byte {position} has base offset {batch.Header.BaseOffset}, expected {next}");
            next = batch.Header.LastOffset + 1;
            position += batch.TotalSize;
        }
        return null;
    }
}
