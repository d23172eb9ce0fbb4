using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Storage;

namespace DetKafka.Core.Partitions;

/// <summary>
/// Kafka's <c>becomeLeaderOrFollower</c>, per partition: the caller (the metadata image or a partition's Raft state,
/// REPLICATION.md) says who leads in which epoch. A request older than the partition's epoch is refused with
/// FENCED_LEADER_EPOCH and changes nothing. Operations waiting on the partition are retried at once: a produce
/// waiting for the high watermark answers NOT_LEADER_OR_FOLLOWER when its leader epoch is over.
/// </summary>
public sealed partial class ReplicaManager
{
    public ErrorCode MakeLeader(TopicPartition tp, int leaderEpoch, IReadOnlyList<int> replicas, IReadOnlyList<int> isr)
    {
        if (GetPartition(tp) is not { } partition) return ErrorCode.UnknownTopicOrPartition;
        if (leaderEpoch < partition.LeaderEpoch) return ErrorCode.FencedLeaderEpoch;
        partition.MakeLeader(leaderEpoch, replicas, isr);
        _broker.Log.Info("Partition {TopicPartition}: leader in epoch {Epoch}, replicas [{Replicas}], isr [{Isr}]",
            tp, leaderEpoch, string.Join(",", replicas), string.Join(",", isr));
        OnLogAdvanced(partition);
        return ErrorCode.None;
    }

    public ErrorCode MakeFollower(TopicPartition tp, int leaderId, int leaderEpoch, IReadOnlyList<int> replicas, IReadOnlyList<int>? isr = null)
    {
        if (GetPartition(tp) is not { } partition) return ErrorCode.UnknownTopicOrPartition;
        if (leaderEpoch < partition.LeaderEpoch) return ErrorCode.FencedLeaderEpoch;
        partition.MakeFollower(leaderId, leaderEpoch, replicas, isr);
        _broker.Log.Info("Partition {TopicPartition}: follower of {Leader} in epoch {Epoch}, replicas [{Replicas}]",
            tp, leaderId, leaderEpoch, string.Join(",", replicas));
        _broker.Purgatory.OnPartitionAdvanced(partition);
        return ErrorCode.None;
    }

    /// <summary>A follower's fetched records, then a sync as for the leader's appends (the leader counts a
    /// follower's copy only once it is durable).</summary>
    public AppendResult AppendRecordsToFollower(Partition partition, ReadOnlyMemory<byte> records, long nowMs)
    {
        var result = partition.AppendRecordsToFollower(records, nowMs);
        if (result.Error == ErrorCode.None) MarkSyncDue(partition);
        return result;
    }
}
