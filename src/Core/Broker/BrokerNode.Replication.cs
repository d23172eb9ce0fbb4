using System.Globalization;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Partitions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Raft;
using DetKafka.Core.Storage;
using DetKafka.Core.Util;

namespace DetKafka.Core.Broker;

// Replicated partitions on the broker (REPLICATION.md, "Partitions on Raft", wired): in quorum mode a partition the
// metadata image gives more than one replica, this node among them, is a PartitionReplica (a Raft log over the
// partition's UnifiedLog) registered as a Raft endpoint, so its Vote/BeginQuorumEpoch/EndQuorumEpoch and followers'
// Fetch travel over the same peer transport as the metadata log's. Partitions whose replicas do not include this node
// have no log here. Single-node mode and single-replica partitions never reach this file.
public sealed partial class BrokerNode
{
    private readonly Dictionary<TopicPartition, RaftEndpoint<RaftRecords>> _partitionEndpoints = new();
    private readonly List<(Partition Partition, long Hw, long Flushed, int Epoch, int Leader)> _replicatedSeen = new();

    /// <summary>A replicated partition's Raft endpoint on this node (null when not hosted or not replicated).</summary>
    public RaftEndpoint<RaftRecords>? PartitionEndpoint(TopicPartition tp) => _partitionEndpoints.GetValueOrDefault(tp);

    /// <summary>Quorum mode and the image gives the partition more than one replica.</summary>
    internal bool IsReplicatedPartition(TopicInfo topic, int partition)
        => IsQuorumMode && partition < topic.Replicas.Count && topic.Replicas[partition].Length > 1;

    /// <summary>The image created (or, at a restart, replayed) a replicated partition: this node hosts it when it is one
    /// of its replicas. A log created now formats its quorum state (a new replica with the voter key the image
    /// implies); a log recovered from disk reopens it (a missing state is a lost disk: an observer).</summary>
    private void EnsureReplicatedPartition(TopicInfo topic, int p, LogConfig config)
    {
        var replicas = topic.Replicas[p];
        if (!replicas.Contains(Config.NodeId)) return;
        var tp = new TopicPartition(topic.Name, p);
        bool existed = Replicas.GetPartition(tp) is not null;
        var partition = Replicas.GetOrCreatePartition(tp, config, Clock.WallClockMs);
        if (partition.Replica is not null) return;
        var replication = new ReplicationConfig
        {
            MinInSyncReplicas = MinInSyncReplicasOf(topic),
            ReplicaLagTimeMaxMs = Config.ReplicaLagTimeMaxMs,
            Raft = Config.ControllerQuorum with { DataLog = true },
        };
        var replica = new PartitionReplica(partition, replicas, Random, replication, Clock.MonotonicMs, format: !existed, Log, AllocateRaftSyncToken);
        partition.Replica = replica;
        var endpoint = new RaftEndpoint<RaftRecords>(tp, replica, new PeerTransport(this), PartitionReplica.RecordsToBytes,
            PartitionReplica.BytesToRecords, id => PartitionReplica.DirectoryIdFor(tp, id), Log, Clock, ClusterId, 1 << 20,
            Config.ControllerQuorum.RequestTimeoutMs);
        RegisterRaftEndpoint(endpoint);
        _partitionEndpoints.Add(tp, endpoint);
        _replicatedSeen.Add((partition, -1, -1, -1, -2));
        Log.Info("Partition {TopicPartition}: replica of [{Replicas}] ({How})", tp, string.Join(",", replicas), existed ? "reopened" : "created");
    }

    private int MinInSyncReplicasOf(TopicInfo topic)
        => topic.ConfigOverrides.TryGetValue("min.insync.replicas", out var v)
           && int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n >= 1
            ? n
            : Config.MinInSyncReplicas;

    /// <summary>The topic was deleted: its replica's endpoint goes (the log goes with the partition).</summary>
    internal void DropReplicatedPartition(TopicPartition tp)
    {
        if (!_partitionEndpoints.Remove(tp, out var endpoint)) return;
        _raftEndpoints.Remove(tp);
        _raftEndpointsInOrder.Remove(endpoint);
        _replicatedSeen.RemoveAll(s => s.Partition.TopicPartition.Equals(tp));
    }

    /// <summary>The replicated log's sync finished (the log took the completion): the Raft core's input, through the
    /// endpoint so what it emits (a follower's next fetch, answers to parked fetches) leaves now.</summary>
    internal void OnReplicatedLogSynced(Partition partition, long nowMs)
    {
        if (!_partitionEndpoints.TryGetValue(partition.TopicPartition, out var endpoint)) return;
        endpoint.Drive(nowMs, now => { partition.Replica!.OnLogSynced(now); return 0; });
    }

    /// <summary>A produce at a replicated partition: <see cref="PartitionReplica.Produce"/> through its endpoint, so the
    /// followers' parked fetches are answered with the new records at once.</summary>
    internal ReplicatedAppend ProduceReplicated(Partition partition, ReadOnlyMemory<byte> records, short acks, long wallNowMs, bool fromCoordinator = false)
    {
        var endpoint = _partitionEndpoints[partition.TopicPartition];
        return endpoint.Drive(Clock.MonotonicMs, now => partition.Replica!.Produce(records, acks, now, wallNowMs, fromCoordinator));
    }

    /// <summary>After every input: a replicated partition whose high watermark, flushed offset or leadership moved wakes
    /// what waits on it (produce completions, fetches), as a sync does for a single-replica partition.</summary>
    private void MarkReplicatedAdvanced()
    {
        for (int i = 0; i < _replicatedSeen.Count; i++)
        {
            var (partition, hw, flushed, epoch, leader) = _replicatedSeen[i];
            var now = (partition, partition.HighWatermark, partition.Log.FlushedOffset, partition.LeaderEpoch, partition.LeaderId);
            if (now == (partition, hw, flushed, epoch, leader)) continue;
            _replicatedSeen[i] = now;
            Purgatory.OnPartitionAdvanced(partition);
            // A coordinator's partition: its groups or transactions load on leading, unload on losing it.
            if (IsCoordinatorTopic(partition.TopicPartition.Topic)) OnCoordinatorPartitionMoved(partition);
        }
    }
}
