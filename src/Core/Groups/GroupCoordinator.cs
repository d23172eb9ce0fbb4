using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Partitions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Records;
using DetKafka.Core.Util;

namespace DetKafka.Core.Groups;

/// <summary>
/// The classic group coordinator (Kafka's GroupCoordinator + GroupMetadataManager) as part of the node's state
/// machine: no thread, every deadline a timer on the node's <see cref="Timers"/>, groups iterated in id order
/// where an output depends on the order. The coordinator of a group is the leader of its partition of
/// <c>__consumer_offsets</c> (<see cref="GroupRecords.PartitionFor"/>); on a single node that is this node.
/// Every change that must survive a restart (commits, a generation's metadata, tombstones) is appended to that
/// partition and answered only once the log's high watermark passed it, as a produce with acks=all; start-up
/// replays the partitions (<see cref="Load"/>). docs/design/GROUPS.md describes the state machine.
/// </summary>
public sealed partial class GroupCoordinator
{
    private readonly BrokerNode _broker;
    private readonly SortedDictionary<string, Group> _groups = new(StringComparer.Ordinal);
    private TimerHandle? _expiryTimer;

    /// <summary>Groups at most; a new group past it gets COORDINATOR_NOT_AVAILABLE (bounds on everything).</summary>
    public const int GroupsMax = 100_000;

    /// <summary>Test-only fault switches (GROUPS.md): each breaks one behaviour on purpose so the simulator's
    /// checks can be shown to catch it. Never set outside tests.</summary>
    public GroupFaults Faults { get; set; } = GroupFaults.None;

    internal GroupCoordinator(BrokerNode broker) => _broker = broker;

    private BrokerConfig Config => _broker.Config;
    private long Now => _broker.Clock.MonotonicMs;
    private long WallNow => _broker.Clock.WallClockMs;

    public IReadOnlyCollection<Group> Groups => _groups.Values;
    public Group? FindGroup(string id) => _groups.GetValueOrDefault(id);

    public int OffsetsPartitionCount => _broker.FindTopic(GroupRecords.OffsetsTopic)?.PartitionCount ?? Config.OffsetsTopicNumPartitions;

    public int PartitionFor(string groupId) => GroupRecords.PartitionFor(groupId, OffsetsPartitionCount);

    // ---- the internal topic ---------------------------------------------------------------------------

    /// <summary>Creates <c>__consumer_offsets</c> when it does not exist yet (Kafka creates it on the first
    /// FindCoordinator): offsets.topic.num.partitions partitions, compacted, 100 MiB segments.</summary>
    public ErrorCode EnsureOffsetsTopic()
        => _broker.EnsureInternalTopic(GroupRecords.OffsetsTopic, Config.OffsetsTopicNumPartitions, Config.OffsetsTopicSegmentBytes,
            Config.OffsetsTopicReplicationFactor);

    /// <summary>Whether this node coordinates the group now: its partition's log is here (the leader).</summary>
    private ErrorCode CheckCoordinator(string groupId, bool create = true)
    {
        if (string.IsNullOrEmpty(groupId)) return ErrorCode.InvalidGroupId;
        if (create && EnsureOffsetsTopic() != ErrorCode.None) return ErrorCode.CoordinatorNotAvailable;
        int p = PartitionFor(groupId);
        var error = _broker.CoordinatorError(GroupRecords.OffsetsTopic, p);
        // In a quorum the leader serves only once it has loaded the partition in its epoch (Leadership.cs).
        return error == ErrorCode.None && _broker.IsQuorumMode ? LoadError(p) : error;
    }

    /// <summary>FindCoordinator for one key: (error, node). Groups are coordinated by the leader of their
    /// partition (this node); transactional ids by the transaction coordinator.</summary>
    public (ErrorCode Error, string? Message) FindCoordinator(sbyte keyType, string key)
    {
        if (keyType == FindCoordinatorRequest.KeyTypeTransaction) return _broker.Transactions.FindCoordinator(key);
        if (keyType != FindCoordinatorRequest.KeyTypeGroup) return (ErrorCode.InvalidRequest, $"unknown key type {keyType}");
        if (string.IsNullOrEmpty(key)) return (ErrorCode.InvalidRequest, "empty group id");
        var error = CheckCoordinator(key);
        return (error, error == ErrorCode.None ? null : error.ToString());
    }

    // ---- loading ----------------------------------------------------------------------------------------

    /// <summary>Rebuilds every group from the partitions of <c>__consumer_offsets</c>: records are replayed in
    /// offset order, last one wins, a null value removes. Synchronous, during <see cref="BrokerNode.Start"/>,
    /// so no request ever finds the coordinator loading.</summary>
    internal void Load() => Load(-1, -1);

    /// <summary>Replays partition <paramref name="only"/> (every partition when -1) up to <paramref name="upTo"/> (the
    /// log end when -1): a coordinator that became a partition's leader loads below its high watermark only.</summary>
    private void Load(int only, long upTo)
    {
        var topic = _broker.FindTopic(GroupRecords.OffsetsTopic);
        if (topic is null) return;
        var loaded = new SortedDictionary<string, (GroupRecords.GroupValueRecord? Meta, bool Deleted)>(StringComparer.Ordinal);
        var decoded = new List<DecodedRecord>();
        long records = 0;
        for (int p = 0; p < topic.PartitionCount; p++)
        {
            if (only >= 0 && p != only) continue;
            var log = _broker.FindLog(GroupRecords.OffsetsTopic, p);
            if (log is null) continue;
            long offset = log.LogStartOffset;
            long end = upTo >= 0 ? Math.Min(upTo, log.LogEndOffset) : log.LogEndOffset;
            for (int round = 0; offset < end; round++)
            {
                Check.That(round <= end - log.LogStartOffset, "loading makes progress");
                var read = log.Read(offset, 1 << 20, end);
                // Batch by batch: transactional offsets wait for their marker (GroupCoordinator.Transactions.cs).
                long next = read.Error == ErrorCode.None ? LoadBatches(p, read.Records.Span, offset, decoded, r => Replay(r, loaded), ref records) : -1;
                if (next <= offset)
                {
                    _broker.Log.Warn("Stopped loading {Topic}-{Partition} at offset {Offset}: unreadable", GroupRecords.OffsetsTopic, p, offset);
                    break;
                }
                offset = next;
            }
        }
        foreach (var (id, (meta, _)) in loaded)
        {
            var group = GetOrCreate(id);
            if (meta is null) continue;
            group.ProtocolType = meta.ProtocolType.Length == 0 ? null : meta.ProtocolType;
            group.GenerationId = meta.GenerationId;
            group.ProtocolName = meta.ProtocolName;
            group.LeaderId = meta.LeaderId;
            foreach (var m in meta.Members)
            {
                group.Members.Add(m);
                if (m.GroupInstanceId is { } inst) group.StaticMembers[inst] = m.MemberId;
            }
            long stateAt = meta.StateTimestampMs >= 0 ? meta.StateTimestampMs : WallNow;
            group.RestoreState(group.Members.Count > 0 ? GroupState.Stable : GroupState.Empty, stateAt);
            // Members come back alive for one session: they resume with their heartbeats or expire.
            foreach (var m in group.Members) ScheduleSession(group, m);
        }
        ResumeConsumerGroups(only);
        foreach (var g in _groups.Values.ToList())
            if ((only < 0 || PartitionFor(g.Id) == only) && g.Members.Count == 0 && g.Offsets.Count == 0 && g.GenerationId == 0 && g.ProtocolType is null) _groups.Remove(g.Id);
        if (_groups.Count > 0) ScheduleExpiry();
        if (only < 0) _broker.Log.Info("Loaded {Groups} groups from {Records} records of {Topic}", _groups.Count, records, GroupRecords.OffsetsTopic);
        else _broker.Log.Info("Loaded {Groups} groups from {Records} records of {Topic}-{Partition} below offset {End}", loaded.Count, records,
            GroupRecords.OffsetsTopic, only, upTo);
    }

    private void Replay(DecodedRecord r, SortedDictionary<string, (GroupRecords.GroupValueRecord? Meta, bool Deleted)> loaded)
    {
        if (r.Key is null) return;
        try
        {
            if (ConsumerGroupRecords.IsConsumerGroupKey(r.Key))
            {
                ReplayConsumerGroup(r);
                return;
            }
            var key = GroupRecords.ReadKey(r.Key);
            if (key.IsOffset)
            {
                if (r.Value is null)
                {
                    _groups.GetValueOrDefault(key.Group)?.Offsets.Remove(key.TopicPartition);
                    return;
                }
                GetOrCreate(key.Group).Offsets[key.TopicPartition] = GroupRecords.ReadOffsetValue(r.Value);
                loaded.TryAdd(key.Group, (null, false));
                return;
            }
            if (r.Value is null)
            {
                _groups.Remove(key.Group);
                loaded.Remove(key.Group);
                return;
            }
            GetOrCreate(key.Group);
            loaded[key.Group] = (GroupRecords.ReadGroupValue(r.Value), false);
        }
        catch (ProtocolException e)
        {
            _broker.Log.Warn("Skipped an unreadable {Topic} record at offset {Offset}: {Reason}", GroupRecords.OffsetsTopic, r.Offset, e.Message);
        }
    }

    private Group GetOrCreate(string id)
    {
        if (_groups.TryGetValue(id, out var g)) return g;
        g = new Group(id) { StateTimestampMs = WallNow };
        _groups.Add(id, g);
        ScheduleExpiry();
        return g;
    }

    // ---- writes -------------------------------------------------------------------------------------------

    /// <summary>Appends records to the group's partition and calls <paramref name="done"/> once they are durable
    /// (the high watermark passed them), or with the error that stopped them. Goes through the log's append and
    /// sync path and the purgatory, exactly as a Produce with acks=all.</summary>
    private void Write(Group group, List<(byte[] Key, byte[]? Value)> records, Action<ErrorCode> done, long producerId = -1, short producerEpoch = -1)
    {
        Check.That(records.Count > 0);
        var partition = _broker.Replicas.GetPartition(GroupRecords.OffsetsTopic, PartitionFor(group.Id));
        if (partition is null)
        {
            done(ErrorCode.NotLeaderOrFollower);
            return;
        }
        long wall = WallNow;
        var simple = new List<SimpleRecord>(records.Count);
        foreach (var (k, v) in records) simple.Add(new SimpleRecord(k, v, wall));
        // A transactional offset commit is written as the producer's transactional batch (TxnOffsetCommit).
        var batch = producerId >= 0
            ? RecordBatchBuilder.Build(simple, producerId: producerId, producerEpoch: producerEpoch, isTransactional: true)
            : RecordBatchBuilder.Build(simple);
        long lastOffset;
        ReplicatedAppend? replicated = null;
        if (partition.Replica is not null)
        {
            // A replicated partition: written through its Raft replica as a produce with acks=all, answered once the
            // high watermark (a majority's disks) passed it, NOT_LEADER_OR_FOLLOWER if its epoch ends first.
            var appended = _broker.ProduceReplicated(partition, batch, -1, wall, fromCoordinator: producerId >= 0);
            if (appended.Error != ErrorCode.None)
            {
                done(appended.Error);
                return;
            }
            replicated = appended;
            lastOffset = appended.LastOffset;
        }
        else
        {
            var result = _broker.Replicas.AppendRecordsToLeader(partition, batch, wall, fromCoordinator: producerId >= 0);
            if (result.Error != ErrorCode.None)
            {
                done(result.Error);
                return;
            }
            lastOffset = result.LastOffset;
        }
        group.WritesInFlight++;
        var op = new DelayedGroupWrite(_broker, partition, lastOffset + 1, error =>
        {
            group.WritesInFlight--;
            done(error);
        }, replicated);
        _broker.Replicas.StartSyncs(Now);
        if (!op.TryComplete()) _broker.Purgatory.Add(op, Now + Config.OffsetCommitTimeoutMs);
    }

    /// <summary>Kafka's mapping of a failed offset write to what OffsetCommit answers.</summary>
    private static ErrorCode CommitError(ErrorCode e) => e switch
    {
        ErrorCode.None => ErrorCode.None,
        ErrorCode.UnknownTopicOrPartition or ErrorCode.NotEnoughReplicas or ErrorCode.NotEnoughReplicasAfterAppend
            or ErrorCode.RequestTimedOut => ErrorCode.CoordinatorNotAvailable,
        ErrorCode.NotLeaderOrFollower or ErrorCode.KafkaStorageError => ErrorCode.NotCoordinator,
        ErrorCode.MessageTooLarge or ErrorCode.RecordListTooLarge or ErrorCode.InvalidFetchSize => ErrorCode.InvalidCommitOffsetSize,
        _ => e,
    };

    /// <summary>Kafka's mapping of a failed group-metadata write to what SyncGroup answers.</summary>
    private static ErrorCode StoreGroupError(ErrorCode e) => e switch
    {
        ErrorCode.None => ErrorCode.None,
        ErrorCode.UnknownTopicOrPartition or ErrorCode.NotEnoughReplicas or ErrorCode.NotEnoughReplicasAfterAppend
            or ErrorCode.RequestTimedOut => ErrorCode.CoordinatorNotAvailable,
        ErrorCode.NotLeaderOrFollower or ErrorCode.KafkaStorageError => ErrorCode.NotCoordinator,
        ErrorCode.MessageTooLarge or ErrorCode.RecordListTooLarge or ErrorCode.InvalidFetchSize => ErrorCode.UnknownServerError,
        _ => e,
    };

    private void WriteGroupMetadata(Group group, Action<ErrorCode> done)
        => Write(group, [(GroupRecords.GroupKey(group.Id), GroupRecords.GroupValue(group, group.StateTimestampMs))], done);

    // ---- offset expiry ---------------------------------------------------------------------------------------

    private void ScheduleExpiry()
    {
        if (_expiryTimer is { IsCancelled: false } t && t.DeadlineMs > Now) return;
        _expiryTimer = _broker.Timers.Schedule(Now + Config.OffsetsRetentionCheckIntervalMs, RunExpiry);
    }

    /// <summary>offsets.retention.minutes: an Empty group's offsets expire that long after the later of their
    /// commit and the group becoming empty (Kafka uses the group's state time for consumer groups and the commit
    /// time for offsets-only groups; the later of the two never expires an offset committed after emptiness
    /// early). Expired offsets get tombstones; a group left with nothing is deleted with its own tombstone.</summary>
    private void RunExpiry()
    {
        _expiryTimer = null;
        long wall = WallNow;
        long retention = Config.OffsetsRetentionMinutes * 60_000L;
        foreach (var group in _groups.Values.ToList())
        {
            if (group.State != GroupState.Empty || group.WritesInFlight > 0) continue;
            var tombstones = new List<(byte[], byte[]?)>();
            foreach (var (tp, o) in group.Offsets.ToList())
            {
                long from = group.ProtocolType is null ? o.CommitTimestampMs : Math.Max(o.CommitTimestampMs, group.StateTimestampMs);
                if (from + retention > wall) continue;
                group.Offsets.Remove(tp);
                tombstones.Add((GroupRecords.OffsetKey(group.Id, tp.Topic, tp.Partition), null));
            }
            bool delete = group.Offsets.Count == 0 && group.Members.Count == 0 && group.PendingMembers.Count == 0;
            if (delete)
            {
                tombstones.Add((GroupRecords.GroupKey(group.Id), null));
                AddConsumerTombstone(group, tombstones);
                group.TransitionTo(GroupState.Dead, wall);
            }
            if (tombstones.Count > 0)
            {
                _broker.Log.Info("Group {Group}: {Count} offsets expired{Deleted}", group.Id, tombstones.Count - (delete ? 1 : 0), delete ? ", group deleted" : "");
                Write(group, tombstones, _ => { if (group.State == GroupState.Dead) _groups.Remove(group.Id); });
            }
        }
        if (_groups.Count > 0) ScheduleExpiry();
    }
}

/// <summary>Test-only switches that break one behaviour each (see GROUPS.md, "What the simulator checks").</summary>
[Flags]
public enum GroupFaults
{
    None = 0,
    /// <summary>A rebalance hands the leader's assignment to members without bumping the generation.</summary>
    SkipGenerationBump = 1,
    /// <summary>OffsetCommit is answered before its record is durable.</summary>
    AnswerCommitBeforeDurable = 2,
    /// <summary>A commit stores one past the offset asked: the next owner skips a record.</summary>
    CommitSkipsARecord = 4,
    /// <summary>OffsetFetch answers one before the committed offset: the next owner reads a committed record again.</summary>
    FetchOffsetOneBehind = 8,
    /// <summary>After the first generation, rebalances never complete.</summary>
    NeverCompleteRebalance = 16,
    /// <summary>A new coordinator loads its partition up to the log end at once, without waiting for its epoch's first
    /// entry to commit: records above the high watermark are served as committed.</summary>
    LoadAboveHighWatermark = 32,
}

/// <summary>A group write waiting in the purgatory for its records to be synced (the high watermark to pass them).</summary>
internal sealed class DelayedGroupWrite(BrokerNode broker, Partitions.Partition partition, long requiredOffset, Action<ErrorCode> done,
    ReplicatedAppend? replicated = null) : IDelayedOperation
{
    private bool _answered;
    public long TimerStamp { get; set; }

    public void RunTimer() => broker.Purgatory.OnDeadline(this);

    public long PurgatoryStamp { get; set; }

    public void AddWatchKeys(List<WatchKey> keys) => keys.Add(WatchKey.For(partition.TopicPartition));

    public bool TryComplete()
    {
        if (!ReferenceEquals(broker.Replicas.GetPartition(partition.TopicPartition), partition)) return Answer(ErrorCode.NotLeaderOrFollower);
        if (partition.Failure != ErrorCode.None) return Answer(ErrorCode.KafkaStorageError);
        if (replicated is { } append)
        {
            // acks=all's rule, from the replica: the high watermark passed the batch, or its epoch ended.
            var outcome = partition.Replica is { } r ? r.Completion(append, -1) : ErrorCode.NotLeaderOrFollower;
            return outcome is { } e && Answer(e);
        }
        if (partition.HighWatermark >= requiredOffset) return Answer(ErrorCode.None);
        return false;
    }

    public void Expire() => Answer(ErrorCode.RequestTimedOut);

    private bool Answer(ErrorCode error)
    {
        Check.That(!_answered, "a group write is answered once");
        _answered = true;
        done(error);
        return true;
    }

    public void Release() { }
}
