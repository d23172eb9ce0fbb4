using DetKafka.Core.Protocol;
using DetKafka.Core.Storage;
using DetKafka.Core.Util;

namespace DetKafka.Core.Partitions;

/// <summary>
/// One partition as the broker serves it (Kafka's <c>Partition</c>): the leader, leader epoch and replica set,
/// the high watermark, and the local replica's <see cref="UnifiedLog"/>. The log stores; the partition decides
/// what is committed. Unless told otherwise every partition has one replica, this node, which leads it (epoch 0
/// when new, a new epoch after each restart), so the high watermark is the local log's
/// <see cref="UnifiedLog.LocalCommittableOffset"/>. Roles (leader, follower) and the hooks replication drives are in
/// Partition.Roles.cs; replication (REPLICATION.md) supplies "the largest offset a majority of the voters has
/// synced, from the leader's epoch" through <see cref="AdvanceHighWatermarkAsLeader"/>.
/// </summary>
public sealed partial class Partition
{
    private int[] _replicas;
    private int[] _isr;
    private long _highWatermark;

    internal Partition(UnifiedLog log, int localNodeId)
    {
        Log = log;
        LocalNodeId = localNodeId;
        LeaderId = localNodeId;
        // A new partition starts in epoch 0. A recovered one was offline and is led again, in a new epoch (as
        // Kafka's controller elects it again after a restart): above every epoch its log holds, so clients holding
        // the old epoch revalidate their positions (OffsetForLeaderEpoch) and batches written now are told apart.
        LeaderEpoch = log.LatestEpoch + 1;
        _replicas = [localNodeId];
        _isr = _replicas;
        log.HighWatermarkFromPartition = true;
        // What recovery found durable: the log starts with its high watermark at its (synced) end.
        _highWatermark = log.HighWatermark;
    }

    public TopicPartition TopicPartition => Log.TopicPartition;

    /// <summary>The local replica's log.</summary>
    public UnifiedLog Log { get; }

    public int LocalNodeId { get; }
    public int LeaderId { get; private set; }

    /// <summary>Kafka's leader epoch (Raft's term under REPLICATION.md); stamped into every batch the leader appends.</summary>
    public int LeaderEpoch { get; private set; }

    /// <summary>The replica set (node ids), and the in-sync ones; one local replica today.</summary>
    public IReadOnlyList<int> Replicas => _replicas;
    public IReadOnlyList<int> InSyncReplicas => _isr;

    public bool IsLeader => LeaderId == LocalNodeId;

    /// <summary>On the replica manager's list of partitions to start a sync on.</summary>
    internal bool SyncDue { get; set; }

    /// <summary>What consumers may read and what acks=all waits for. Never goes backwards.</summary>
    public long HighWatermark => _highWatermark;

    public long LogStartOffset => Log.LogStartOffset;
    public long LogEndOffset => Log.LogEndOffset;

    /// <summary><see cref="ErrorCode.KafkaStorageError"/> once the local log failed for good.</summary>
    public ErrorCode Failure => Log.Failure;

    /// <summary>Moves the high watermark to what every replica that counts has (one local replica: what the local
    /// log lets acknowledgements reach) and tells the log. True when it moved.</summary>
    internal bool MaybeIncrementHighWatermark()
    {
        // A follower learns its high watermark from the leader; a leader with other replicas waits for them
        // (Partition.Roles.cs): only a sole replica may count its own log.
        if (!IsLeader || _replicas.Length != 1) return false;
        long candidate = Log.LocalCommittableOffset;
        if (candidate <= _highWatermark) return false;
        _highWatermark = candidate;
        Log.AdvanceHighWatermark(candidate);
        return true;
    }

    /// <summary>A produce (or a coordinator's write) as leader: the log validates, assigns offsets and writes
    /// into the cache; a relaxed-durability log's high watermark moves at once.</summary>
    internal AppendResult AppendRecordsToLeader(ReadOnlyMemory<byte> records, long wallNowMs, bool fromCoordinator = false)
    {
        Check.That(IsLeader, "only the leader appends");
        // The epoch stamped into the batches is the partition's, which never goes below what the log holds.
        Check.That(LeaderEpoch >= Log.LatestEpoch, "a leader appends in an epoch at least the log's latest");
        var result = Log.Append(records, wallNowMs, LeaderEpoch, fromCoordinator);
        MaybeIncrementHighWatermark();
        return result;
    }

    /// <summary>Whole batches from <paramref name="fetchOffset"/> below the high watermark (a consumer's fetch), or
    /// below <paramref name="upTo"/> when that is lower (read_committed passes the last stable offset).</summary>
    public LogReadSlice Read(long fetchOffset, int maxBytes, bool minOneBatch, long? upTo = null)
    {
        Check.That(upTo is not { } u || u <= _highWatermark, "a read bound never passes the high watermark");
        var slice = Log.ReadSlice(fetchOffset, maxBytes, upTo ?? (ReadToLogEndForTests ? long.MaxValue : _highWatermark), minOneBatch);
        Check.That(slice.HighWatermark == _highWatermark, "the log holds the partition's high watermark");
        return slice;
    }

    /// <summary>Test-only planted bug (the simulator's cluster check read-above-high-watermark must catch it): reads
    /// go to the log end, past the high watermark. Per thread, set for one simulated run.</summary>
    [ThreadStatic] public static bool ReadToLogEndForTests;

    public TimestampOffset? OffsetForTimestamp(long timestamp) => Log.OffsetForTimestamp(timestamp, _highWatermark);

    public TimestampOffset? MaxTimestampOffset() => Log.MaxTimestampOffset(_highWatermark);

    /// <summary>DeleteRecords: the log start moves up to <paramref name="offset"/> (-1: the high watermark), durably.</summary>
    public (ErrorCode Error, long LowWatermark) DeleteRecordsBefore(long offset) => Log.DeleteRecordsBefore(offset);

    /// <summary>AlterConfigs: a log turned relaxed may let the high watermark jump to its end.</summary>
    internal bool UpdateConfig(LogConfig config)
    {
        Log.UpdateConfig(config);
        return MaybeIncrementHighWatermark();
    }

    public override string ToString() => $"Partition({TopicPartition}, leader {LeaderId} epoch {LeaderEpoch}, hw {HighWatermark})";
}
