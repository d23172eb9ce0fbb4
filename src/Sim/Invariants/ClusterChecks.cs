using System.Buffers.Binary;
using System.Globalization;
using DetKafka.Core.Partitions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Raft;
using DetKafka.Core.Records;
using DetKafka.Sim.History;
using DetKafka.Sim.World;

namespace DetKafka.Sim.Invariants;

/// <summary>
/// The checks of a replicated cluster run (SimulationOptions.IsCluster), each a named violation. After every event:
/// one-leader-per-epoch (every partition's Raft log and the metadata quorum), read-above-high-watermark (what the
/// consumers' fetches returned), cluster-recovers (after the heal every partition has a leader followed by a
/// majority of its replicas within <see cref="SimulationOptions.ClusterRecoveryBoundMs"/>). At the end of a passing
/// run (<see cref="Final"/>): acks-all-lost (every acknowledged acks=all record is read back, at its offset, from
/// whoever leads) and replicas-agree-below-high-watermark (every pair of replicas holds the same bytes below the
/// lower of their high watermarks). The single-node checks that assume the node holding a log leads it
/// (high-watermark-monotonic across restarts, acknowledged-below-log-end) are replaced by these.
/// </summary>
public static class ClusterChecks
{
    public const string OneLeaderPerEpoch = "one-leader-per-epoch";
    public const string ReadAboveHighWatermark = "read-above-high-watermark";
    public const string ClusterRecovers = "cluster-recovers";
    public const string AcksAllLost = "acks-all-lost";
    public const string ReplicasAgree = "replicas-agree-below-high-watermark";

    /// <summary>Fresh per-event checkers of a cluster run, in the order they run.</summary>
    public static IReadOnlyList<IInvariantChecker> Invariants() =>
    [
        new LogStartOffsetMonotonic(),
        new RecoveredLogsValid(),
        new RecoveredIndexesNameBatches(),
        new LeadersPerEpoch(),
        new NoReadAboveHighWatermark(),
        new Recovers(),
    ];

    /// <summary>The end-of-run checks: (checker name, what is wrong) or null.</summary>
    public static (string Checker, string Message)? Final(SimWorld world)
    {
        if (AcksAllCheck(world) is { } lost) return (AcksAllLost, lost);
        if (AgreeCheck(world) is { } diverged) return (ReplicasAgree, diverged);
        return null;
    }

    private sealed class LeadersPerEpoch : IInvariantChecker
    {
        private readonly Dictionary<(string Topic, int Partition, int Epoch), int> _leaders = new();

        public string Name => OneLeaderPerEpoch;

        public string? Check(InvariantContext context)
        {
            var touched = context.TouchedThisEvent;
            for (int i = 0; i < touched.Count; i++)
            {
                var node = touched[i];
                if (node.Broker is not { } broker) continue;
                if (broker.MetadataQuorum is { Role: RaftRole.Leader } q && Claim("__cluster_metadata", 0, q.Epoch, node) is { } m) return m;
                foreach (var p in broker.Replicas.Partitions)
                    if (p.Replica?.Raft is { Role: RaftRole.Leader } raft && Claim(p.TopicPartition.Topic, p.TopicPartition.Partition, raft.Epoch, node) is { } problem)
                        return problem;
            }
            return null;
        }

        private string? Claim(string topic, int partition, int epoch, SimNode node)
        {
            var key = (topic, partition, epoch);
            if (!_leaders.TryGetValue(key, out int other))
            {
                _leaders[key] = node.NodeId;
                return null;
            }
            return other == node.NodeId ? null : string.Create(CultureInfo.InvariantCulture,
                $"{topic}-{partition}: nodes {other} and {node.NodeId} both led epoch {epoch}");
        }
    }

    private sealed class NoReadAboveHighWatermark : IInvariantChecker
    {
        public string Name => ReadAboveHighWatermark;

        public string? Check(InvariantContext context) => context.World.Cluster?.ReadAboveHighWatermark;
    }

    /// <summary>Notes when the cluster first looks recovered after the heal (the trace's figure), and judges at the
    /// bound: then a controller exists and every partition has a leader a majority follows in its epoch. Judged at
    /// the bound rather than at the first good moment, so a leadership that flaps (or followers that have not yet
    /// noticed a cut-off leader) does not count as recovered.</summary>
    private sealed class Recovers : IInvariantChecker
    {
        private bool _noted, _judged;

        public string Name => ClusterRecovers;

        public string? Check(InvariantContext context)
        {
            var world = context.World;
            if (_judged || !world.InLivenessPhase) return null;
            bool due = world.NowUs > world.HealedAtUs + world.Options.ClusterRecoveryBoundMs * 1000;
            if (_noted && !due) return null;
            var missing = Unled(world);
            if (missing is null && !_noted)
            {
                _noted = true;
                world.Note("world", "cluster-recovered", string.Create(CultureInfo.InvariantCulture,
                    $"every partition led by a majority's leader {(world.NowUs - world.HealedAtUs) / 1000} ms after the heal"));
            }
            if (!due) return null;
            _judged = true;
            return missing is null ? null
                : string.Create(CultureInfo.InvariantCulture, $"{world.Options.ClusterRecoveryBoundMs} ms after the heal: {missing}");
        }
    }

    /// <summary>The first partition of the workload's topic (or the metadata quorum) without a leader that a majority
    /// of its replicas follow at its epoch, or null when all have one.</summary>
    internal static string? Unled(SimWorld world)
    {
        if (!world.Nodes.Any(n => n.Broker is { IsController: true })) return "no controller";
        var w = world.Options.Workload;
        for (int p = 0; p < w.Partitions; p++)
        {
            var tp = new TopicPartition(w.Topic, p);
            if (MajorityLeader(world, tp) is null) return tp + " has no leader followed by a majority of its replicas";
        }
        return null;
    }

    /// <summary>The node leading <paramref name="tp"/> whose leadership (id and epoch) a majority of the replicas
    /// agree on, or null.</summary>
    public static SimNode? MajorityLeader(SimWorld world, TopicPartition tp)
    {
        foreach (var node in world.Nodes)
        {
            if (node.Broker?.Replicas.GetPartition(tp) is not { Replica: { } replica, IsLeader: true } leader) continue;
            int replicas = replica.Raft.Epoch >= 0 ? ReplicaCount(world, tp) : 0;
            int agree = 0;
            foreach (var other in world.Nodes)
                if (other.Broker?.Replicas.GetPartition(tp) is { Replica: { } r } && r.Raft.Epoch == replica.Raft.Epoch
                    && other.Broker.Replicas.GetPartition(tp)!.LeaderId == node.NodeId) agree++;
            if (replicas > 0 && agree * 2 > replicas) return node;
        }
        return null;
    }

    private static int ReplicaCount(SimWorld world, TopicPartition tp)
    {
        foreach (var node in world.Nodes)
            if (node.Broker?.FindTopic(tp.Topic) is { } topic && tp.Partition < topic.Replicas.Count) return topic.Replicas[tp.Partition].Length;
        return world.Options.ReplicationFactor;
    }

    // ---- end of run ------------------------------------------------------------------------------------------

    private static string? AcksAllCheck(SimWorld world)
    {
        var acksAll = world.Workload.AcksAllProcesses;
        var cache = new Dictionary<TopicPartition, (long HighWatermark, Dictionary<long, long> Values)>();
        int checkedCount = 0;
        foreach (var op in world.History.Operations)
        {
            if (op.Type != OpType.Ok || op.Kind != OpKind.Send || !acksAll.Contains(op.Process)) continue;
            foreach (var micro in op.Value)
            {
                if (micro is not SendOp { Offset: { } offset } send) continue;
                if (!cache.TryGetValue(send.Partition, out var log))
                {
                    // The leader a majority follows; else (the run ended while followers still learn of a new leader)
                    // the one the liveness goal read to.
                    var leader = (MajorityLeader(world, send.Partition) ?? world.LeaderOf(send.Partition))?.Broker?.Replicas.GetPartition(send.Partition);
                    if (leader is null) return $"{send.Partition}: no leader to read acknowledged value {send.Value} back from";
                    log = (leader.HighWatermark, ValuesBelowHighWatermark(leader));
                    cache[send.Partition] = log;
                }
                checkedCount++;
                if (!log.Values.TryGetValue(offset, out long got))
                    return string.Create(CultureInfo.InvariantCulture,
                        $"{send.Partition}: acks=all value {send.Value} acknowledged at offset {offset} (op {op.Index}) is not in the leader's log below its high watermark {log.HighWatermark}");
                if (got != send.Value)
                    return string.Create(CultureInfo.InvariantCulture,
                        $"{send.Partition}: acks=all value {send.Value} acknowledged at offset {offset} (op {op.Index}) was replaced by {got}");
            }
        }
        world.Count("cluster.acks-all-read-back", checkedCount);
        return null;
    }

    /// <summary>offset -> the workload's 8-byte value, for every record below the partition's high watermark.</summary>
    private static Dictionary<long, long> ValuesBelowHighWatermark(Partition partition)
    {
        var values = new Dictionary<long, long>();
        var decoded = new List<DecodedRecord>();
        foreach (var batch in Batches(partition, partition.HighWatermark))
        {
            decoded.Clear();
            if (RecordBatchDecoder.Decode(batch.Bytes.Span, decoded) != ErrorCode.None) continue;
            foreach (var r in decoded)
                if (r.Value is { Length: 8 } v) values[r.Offset] = BinaryPrimitives.ReadInt64BigEndian(v);
        }
        return values;
    }

    /// <summary>The batches of <paramref name="partition"/>'s log from its start below <paramref name="upTo"/>, whole.</summary>
    private static IEnumerable<(long BaseOffset, long LastOffset, ReadOnlyMemory<byte> Bytes)> Batches(Partition partition, long upTo)
    {
        var log = partition.Log;
        long offset = log.LogStartOffset;
        for (int guard = 0; offset < upTo && guard < 1_000_000; guard++)
        {
            var read = log.Read(offset, 1 << 20, upTo);
            if (read.Error != ErrorCode.None || read.Records.Length == 0) yield break;
            var bytes = read.Records;
            int position = 0;
            long next = offset;
            while (position + 61 <= bytes.Length)
            {
                var span = bytes.Span[position..];
                long baseOffset = BinaryPrimitives.ReadInt64BigEndian(span);
                int length = BinaryPrimitives.ReadInt32BigEndian(span[8..]);
                int lastDelta = BinaryPrimitives.ReadInt32BigEndian(span[23..]);
                if (length <= 0 || position + 12 + length > bytes.Length) break;
                yield return (baseOffset, baseOffset + lastDelta, bytes.Slice(position, 12 + length));
                next = baseOffset + lastDelta + 1;
                position += 12 + length;
            }
            if (next <= offset) yield break;
            offset = next;
        }
    }

    private static string? AgreeCheck(SimWorld world)
    {
        var w = world.Options.Workload;
        long compared = 0;
        for (int p = 0; p < w.Partitions; p++)
        {
            var tp = new TopicPartition(w.Topic, p);
            var replicas = world.Nodes
                .Select(n => (Node: n, Partition: n.Broker?.Replicas.GetPartition(tp)))
                .Where(x => x.Partition is { Replica: not null })
                .ToList();
            for (int a = 0; a < replicas.Count; a++)
                for (int b = a + 1; b < replicas.Count; b++)
                {
                    var (na, pa) = replicas[a];
                    var (nb, pb) = replicas[b];
                    long upTo = Math.Min(pa!.HighWatermark, pb!.HighWatermark);
                    long start = Math.Max(pa.Log.LogStartOffset, pb.Log.LogStartOffset);
                    var ba = Batches(pa, upTo).Where(x => x.BaseOffset >= start).ToList();
                    var bb = Batches(pb, upTo).Where(x => x.BaseOffset >= start).ToList();
                    int n = Math.Min(ba.Count, bb.Count);
                    for (int i = 0; i < n; i++)
                    {
                        if (ba[i].BaseOffset != bb[i].BaseOffset || !ba[i].Bytes.Span.SequenceEqual(bb[i].Bytes.Span))
                            return string.Create(CultureInfo.InvariantCulture,
                                $"{tp}: {na.Name} and {nb.Name} differ at the batch of offset {Math.Min(ba[i].BaseOffset, bb[i].BaseOffset)} below the high watermark {upTo}");
                        compared += ba[i].Bytes.Length;
                    }
                    if (ba.Count != bb.Count)
                        return string.Create(CultureInfo.InvariantCulture,
                            $"{tp}: {na.Name} holds {ba.Count} batches and {nb.Name} {bb.Count} below the high watermark {upTo}");
                }
        }
        world.Count("cluster.replica-bytes-compared", compared);
        return null;
    }
}

/// <summary>What a cluster run observes at the clients: the first fetch that returned a batch at or above the high
/// watermark the same response reported.</summary>
public sealed class ClusterObserver
{
    public string? ReadAboveHighWatermark { get; private set; }

    internal void OnFetched(string host, TopicPartition tp, long highWatermark, ReadOnlyMemory<byte> records)
    {
        if (ReadAboveHighWatermark is not null || highWatermark < 0) return;
        var span = records.Span;
        int position = 0;
        while (position + 61 <= span.Length)
        {
            long baseOffset = BinaryPrimitives.ReadInt64BigEndian(span[position..]);
            int length = BinaryPrimitives.ReadInt32BigEndian(span[(position + 8)..]);
            if (baseOffset >= highWatermark)
            {
                ReadAboveHighWatermark = string.Create(CultureInfo.InvariantCulture,
                    $"{host} fetched {tp} a batch at offset {baseOffset}, at or above the high watermark {highWatermark} of the same response");
                return;
            }
            if (length <= 0) return;
            position += 12 + length;
        }
    }
}
