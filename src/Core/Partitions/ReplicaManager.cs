using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Storage;
using DetKafka.Core.Util;

namespace DetKafka.Core.Partitions;

/// <summary>
/// The partitions this node hosts (Kafka's <c>ReplicaManager</c>), between the handlers and the logs: Produce,
/// Fetch, ListOffsets, DeleteRecords, Metadata, the group coordinator and the purgatory find a
/// <see cref="Partition"/> here, never a log. It creates and deletes partitions with their logs, routes a
/// finished sync to its partition, moves high watermarks and wakes what waits on them. Partitions sit in a list
/// sorted by (topic, partition), as the logs do: lookups are a binary search and allocate nothing.
/// </summary>
public sealed partial class ReplicaManager
{
    private readonly BrokerNode _broker;
    private readonly List<Partition> _partitions = new();

    /// <summary>Partitions appended to since syncs were last started, in append order, each once.</summary>
    private readonly List<Partition> _syncDue = new();

    internal ReplicaManager(BrokerNode broker) => _broker = broker;

    /// <summary>Every hosted partition, sorted by topic then partition.</summary>
    public IReadOnlyList<Partition> Partitions => _partitions;

    private LogManager Logs => _broker.Logs;

    public Partition? GetPartition(string topic, int partition) => GetPartition(new TopicPartition(topic, partition));

    public Partition? GetPartition(TopicPartition tp)
    {
        int at = IndexOf(tp);
        return at >= 0 ? _partitions[at] : null;
    }

    /// <summary>The node that leads <paramref name="tp"/> as this node knows it, or null when it hosts no replica of it.</summary>
    public int? LeaderOf(TopicPartition tp) => GetPartition(tp)?.LeaderId;

    private int IndexOf(TopicPartition tp)
    {
        int lo = 0, hi = _partitions.Count - 1;
        while (lo <= hi)
        {
            int mid = lo + ((hi - lo) >> 1);
            int c = _partitions[mid].TopicPartition.CompareTo(tp);
            if (c == 0) return mid;
            if (c < 0) lo = mid + 1;
            else hi = mid - 1;
        }
        return ~lo;
    }

    /// <summary>Start-up: a partition for every log the log manager recovered.</summary>
    internal void LoadAll()
    {
        Check.That(_partitions.Count == 0, "loaded once");
        foreach (var log in Logs.Logs) _partitions.Add(new Partition(log, _broker.Config.NodeId));
        // Quorum mode: the image (replayed as the metadata quorum commits) says which are replicated.
        if (_broker.IsQuorumMode) foreach (var partition in _partitions) partition.AwaitImage();
    }

    /// <summary>The partition, creating it (and its log) when new.</summary>
    internal Partition GetOrCreatePartition(TopicPartition tp, LogConfig config, long wallNowMs)
    {
        int at = IndexOf(tp);
        if (at >= 0) return _partitions[at];
        var partition = new Partition(Logs.GetOrCreateLog(tp, config, wallNowMs), _broker.Config.NodeId);
        _partitions.Insert(~at, partition);
        return partition;
    }

    /// <summary>Deletes the partition's log (or an orphaned log directory) and forgets the partition.</summary>
    internal void DeletePartition(TopicPartition tp)
    {
        int at = IndexOf(tp);
        if (at >= 0)
        {
            if (_partitions[at].Replica is not null) _broker.DropReplicatedPartition(tp);
            _partitions.RemoveAt(at);
        }
        Logs.DeleteLog(tp);
    }

    /// <summary>A produce (or a coordinator's write) as leader, through <see cref="Partition.AppendRecordsToLeader"/>;
    /// the partition's sync starts at the next <see cref="StartSyncs"/>.</summary>
    public AppendResult AppendRecordsToLeader(Partition partition, ReadOnlyMemory<byte> records, long wallNowMs, bool fromCoordinator = false)
    {
        // Every writer (produce, coordinators, markers) gets the error rather than the partition's assertion.
        if (!partition.IsLeader)
            return AppendResult.Failed(ErrorCode.NotLeaderOrFollower, "this node does not lead the partition", partition.LogStartOffset);
        // A replicated partition is written through its Raft replica only (the produce handler's path); the
        // coordinators' writes to one are not wired yet (REPLICATION.md).
        if (partition.Replica is not null)
            return AppendResult.Failed(ErrorCode.NotLeaderOrFollower, "a replicated partition takes produce requests only", partition.LogStartOffset);
        var before = partition.Log.ActiveSegment;
        int beforeSize = before.Size;
        var result = partition.AppendRecordsToLeader(records, wallNowMs, fromCoordinator);
        if (result.Error == ErrorCode.None)
        {
            MarkSyncDue(partition);
            // What was just written is in the page cache (a read of it is hot); a roll started a new segment at 0.
            var active = partition.Log.ActiveSegment;
            _broker.ColdReads.NoteWritten(active, ReferenceEquals(active, before) ? beforeSize : 0, active.Size);
        }
        return result;
    }

    private void MarkSyncDue(Partition partition)
    {
        if (partition.SyncDue) return;
        partition.SyncDue = true;
        _syncDue.Add(partition);
    }

    /// <summary>Group commit: starts a sync on every partition appended to since the last call (one sync covers
    /// every append made so far). Only those: a produce no longer walks every log of the node.</summary>
    public void StartSyncs(long nowMs)
    {
        for (int i = 0; i < _syncDue.Count; i++)
        {
            var partition = _syncDue[i];
            partition.SyncDue = false;
            // A deleted partition's log is closed: nothing to sync.
            if (ReferenceEquals(GetPartition(partition.TopicPartition), partition)) partition.Log.MaybeStartSync(nowMs);
        }
        _syncDue.Clear();
    }

    /// <summary>The maintenance pass: every log whose flush.ms came due (relaxed durability) starts its sync.</summary>
    internal void StartDueSyncs(long nowMs)
    {
        StartSyncs(nowMs);
        Logs.MaybeStartSyncs(nowMs);
    }

    /// <summary>AlterConfigs: a log turned relaxed may let the high watermark jump to its end; one turned strict
    /// syncs what it holds unflushed at the next <see cref="StartSyncs"/>.</summary>
    internal void UpdateConfig(Partition partition, LogConfig config)
    {
        partition.UpdateConfig(config);
        MarkSyncDue(partition);
    }

    /// <summary>A sync a log requested finished: the high watermark may move, and what waits on it with it.</summary>
    internal void OnSyncCompleted(long token, DiskStatus status, long nowMs)
    {
        var completion = Logs.OnSyncCompleted(token, status, nowMs);
        if (completion is not { } c) return;
        // Only the failing completion is news: once a log is offline (a failed roll sync, say), the completions of
        // its other files' syncs still arrive, Ok, and said "failed a sync (Ok)" once each.
        if (c.Error != ErrorCode.None && status != DiskStatus.Ok)
            _broker.Log.Error("Log {TopicPartition} failed a sync ({Status}); it is offline", c.TopicPartition, status);
        if (GetPartition(c.TopicPartition) is not { } partition) return;
        // A replicated log's sync is the Raft core's input too (it counts the synced offset; a follower fetches on).
        if (partition.Replica is not null) _broker.OnReplicatedLogSynced(partition, nowMs);
        OnLogAdvanced(partition);
    }

    /// <summary>The partition's log moved (a sync, a roll) or failed: move its high watermark and retry what
    /// waits on it.</summary>
    internal void OnLogAdvanced(Partition partition)
    {
        partition.MaybeIncrementHighWatermark();
        _broker.Purgatory.OnPartitionAdvanced(partition);
    }

    /// <summary>Kafka's periodic log maintenance: segment.ms rolls of idle active segments, then retention.
    /// A roll moves the flushed offset, so waiting produces may complete.</summary>
    internal void RunRetention(long wallNowMs)
    {
        for (int i = 0; i < _partitions.Count; i++)
        {
            var partition = _partitions[i];
            if (partition.Log.MaybeRollByTime(wallNowMs)) OnLogAdvanced(partition);
            partition.Log.ApplyRetention(wallNowMs);
        }
    }

    /// <summary>Shutdown: syncs every log (blocking) and moves the high watermarks to what it made durable.</summary>
    internal void FlushAll()
    {
        Logs.FlushAll();
        foreach (var partition in _partitions) partition.MaybeIncrementHighWatermark();
    }

    internal void Clear() => _partitions.Clear();
}
