using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Raft;
using DetKafka.Core.Storage;
using DetKafka.Core.Util;

namespace DetKafka.Core.Partitions;

/// <summary>Kafka's replication settings for one replicated partition (topic config min.insync.replicas, broker config
/// replica.lag.time.max.ms) and the Raft timers its replicas run with.</summary>
public sealed record ReplicationConfig
{
    /// <summary>min.insync.replicas: acks=all needs at least this many live, caught-up replicas (the leader included).</summary>
    public int MinInSyncReplicas { get; init; } = 1;
    /// <summary>replica.lag.time.max.ms: a follower whose fetches have not reached the leader's log end for this long
    /// leaves the ISR; one that has not fetched at all for this long is reported offline.</summary>
    public long ReplicaLagTimeMaxMs { get; init; } = 30_000;
    public RaftConfig Raft { get; init; } = new() { DataLog = true };
}

/// <summary>What <see cref="PartitionReplica.Produce"/> did: the error (nothing was written) or the offsets written in
/// <see cref="LeaderEpoch"/>; <see cref="PartitionReplica.Completion"/> says when the producer may be answered.</summary>
public readonly record struct ReplicatedAppend(ErrorCode Error, string? ErrorMessage, long BaseOffset, long LastOffset, int LeaderEpoch,
    AppendResult Result)
{
    public static ReplicatedAppend Failed(ErrorCode error, string? message) => new(error, message, -1, -1, -1, default);
}

/// <summary>
/// A partition with more than one replica (REPLICATION.md, "Partitions on Raft"): this node's replica owns a
/// <see cref="RaftReplica{TRecords}"/> over its log (<see cref="UnifiedRaftLog"/>), and the partition follows the Raft
/// state: a Raft leader is the partition's leader in the Raft epoch (<see cref="Partition.MakeLeader"/>), anything else
/// a follower of the known leader (<see cref="Partition.MakeFollower"/>); the commit index moves the high watermark
/// (<see cref="Partition.AdvanceHighWatermarkAsLeader"/> on the leader, <see cref="Partition.UpdateFollowerHighWatermark"/>
/// from the leader's answers on a follower), so the high watermark is never above the commit index. Follower appends and
/// truncations go through the partition's follower operations (their role and committed-data checks).
/// <para>Kafka's rules on top: acks=all is answered once the high watermark passes the batch, acks=1 once the leader's own
/// sync does; acks=all with fewer in-sync replicas than min.insync.replicas is refused with NOT_ENOUGH_REPLICAS before
/// anything is written; the ISR is the leader and the voters whose fetches reached the leader's log end within
/// replica.lag.time.max.ms (Kafka's lastCaughtUpTime rule), reported through <see cref="Partition.InSyncReplicas"/>.</para>
/// <para>The surface the node's Raft transport drives, one input at a time like everything in Core: <see cref="OnMessage"/>,
/// <see cref="DrainOutbox"/>, <see cref="Poll"/> at <see cref="NextDeadlineMs"/>, <see cref="OnSyncCompleted"/> for the
/// log's sync tokens, and <see cref="RecordsToBytes"/>/<see cref="BytesToRecords"/> for Fetch's Records. The messages
/// are addressed by node id; the transport adds the topic and partition (RaftWire).</para>
/// </summary>
public sealed class PartitionReplica : IRaftLogOwner, IRaftDriver<RaftRecords>
{
    private sealed class FollowerState
    {
        public long LastFetchMs;
        public long LastCaughtUpMs;
        public long LastFetchLeaderLogEnd = -1;
    }

    private readonly Partition _partition;
    private readonly UnifiedRaftLog _log;
    private readonly DiskQuorumStateStore _store;
    private readonly RaftReplica<RaftRecords> _raft;
    private readonly VoterSet _voters;
    private readonly int[] _replicas;
    private readonly ReplicationConfig _config;
    private readonly IBrokerLog _brokerLog;
    private readonly Dictionary<int, FollowerState> _followers = new();
    private long _now;
    private long _isrDeadline = long.MaxValue;

    /// <summary>Opens this node's replica of a replicated partition. <paramref name="format"/>: the partition was just
    /// created here (its quorum state is formatted with the directory id the voter set names); otherwise a missing
    /// quorum state is a lost disk and the replica comes back as a new one (an observer: it fetches, never votes).</summary>
    /// <param name="quorumStateTokens">Sync tokens for the <c>quorum-state</c> file (<see cref="DiskQuorumStateStore"/>,
    /// two slots, synced asynchronously; the completions come back through <see cref="OnSyncCompleted"/>).</param>
    public PartitionReplica(Partition partition, IReadOnlyList<int> replicas, IRandom random, ReplicationConfig config, long nowMs,
        bool format, IBrokerLog log, Func<long> quorumStateTokens)
    {
        Check.That(replicas.Count is > 1 and <= VoterSet.MaxVoters, "a replicated partition has 2 to 15 replicas");
        Check.That(config.Raft.DataLog, "a partition's log is a data log");
        _partition = partition;
        _replicas = replicas.ToArray();
        _config = config;
        _brokerLog = log;
        _now = nowMs;
        _voters = VotersFor(partition.TopicPartition, replicas);
        string path = partition.Log.Directory.Length == 0 ? QuorumStateFileName : partition.Log.Directory + "/" + QuorumStateFileName;
        bool fresh = format && !partition.Log.Disk.FileExists(path);
        _store = new DiskQuorumStateStore(partition.Log.Disk, path, quorumStateTokens, log,
            format ? DirectoryIdFor(partition.TopicPartition, partition.LocalNodeId) : null);
        if (fresh) _store.FormatNow();
        _log = new UnifiedRaftLog(partition.Log) { NowMs = nowMs, Voters = _replicas };
        _raft = new RaftReplica<RaftRecords>(partition.LocalNodeId, _voters, _log, _store, random, config.Raft, nowMs);
        partition.StartReplicated(_raft.Epoch, _replicas);
        _log.Owner = this;
        AfterStep();
    }

    /// <summary>The Raft state beside the partition's log (STORAGE.md).</summary>
    public const string QuorumStateFileName = "quorum-state";

    public Partition Partition => _partition;
    public RaftReplica<RaftRecords> Raft => _raft;
    RaftReplica<RaftRecords> IRaftDriver<RaftRecords>.Core => _raft;
    public UnifiedRaftLog RaftLog => _log;
    public ReplicationConfig Config => _config;

    /// <summary>True once the log or the quorum state failed on disk: the replica stops (it neither leads nor follows)
    /// until the node reopens it.</summary>
    public bool Offline { get; private set; }

    /// <summary>The voter keys of a partition's replicas. The directory id is derived from the partition and the node id
    /// (the controller would assign it, KIP-858): a replica formatted at creation has it; one whose disk was lost draws
    /// another and is an observer.</summary>
    public static VoterSet VotersFor(TopicPartition tp, IReadOnlyList<int> replicas)
        => new(replicas.Select(id => new ReplicaKey(id, DirectoryIdFor(tp, id))));

    public static Guid DirectoryIdFor(TopicPartition tp, int nodeId)
    {
        // FNV-1a over the topic's UTF-8 bytes, the partition and the node id, spread into 16 bytes (stable across
        // processes; string.GetHashCode is not).
        ulong h1 = 14695981039346656037UL, h2 = 1099511628211UL * 31;
        void Mix(byte b)
        {
            h1 = (h1 ^ b) * 1099511628211UL;
            h2 = (h2 ^ b) * 0x100000001B3UL + 0x9E3779B97F4A7C15UL;
        }
        foreach (byte b in System.Text.Encoding.UTF8.GetBytes(tp.Topic)) Mix(b);
        for (int i = 0; i < 4; i++) Mix((byte)(tp.Partition >> (8 * i)));
        for (int i = 0; i < 4; i++) Mix((byte)(nodeId >> (8 * i)));
        Span<byte> bytes = stackalloc byte[16];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(bytes, h1);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], h2);
        return new Guid(bytes, bigEndian: true);
    }

    public static ReadOnlyMemory<byte> RecordsToBytes(RaftRecords records) => records.Bytes;
    public static RaftRecords BytesToRecords(ReadOnlyMemory<byte> bytes) => new(bytes);

    // ---- the transport's surface -------------------------------------------------------------------------------

    public long NextDeadlineMs => Offline ? long.MaxValue : Math.Min(_raft.NextDeadlineMs, _isrDeadline);

    public void DrainOutbox(List<RaftMessage> into)
    {
        if (!Offline) _raft.DrainOutbox(into);
    }

    public void Poll(long nowMs)
    {
        if (!Begin(nowMs)) return;
        _raft.Poll(nowMs);
        AfterStep();
    }

    /// <summary>A decoded Vote, BeginQuorumEpoch, EndQuorumEpoch or Fetch (request or response) for this partition.
    /// A fetch answer whose records are not whole valid batches starting at this log's end is dropped with a log line
    /// (the fetch is sent again on its timer): a peer's garbage never reaches the log.</summary>
    public void OnMessage(RaftMessage message, long nowMs)
    {
        if (!Begin(nowMs)) return;
        // An answer with nothing new may carry an empty Records field on the wire: no records, not a bad batch.
        if (message is FetchResponseMessage<RaftRecords> { Records.Bytes.Length: 0 } empty) message = empty with { Records = null };
        if (message is FetchResponseMessage<RaftRecords> { Records: { } records } response && !ValidFetchedRecords(records, out string? why))
        {
            _brokerLog.Warn("Partition {TopicPartition}: dropped a fetch answer from node {Source}: {Reason}",
                _partition.TopicPartition, response.Source, why);
            return;
        }
        if (message is FetchRequestMessage fetch) TrackFollowerFetch(fetch);
        _raft.OnMessage(message, nowMs);
        AfterStep();
    }

    /// <summary>A sync finished; false when the token is not this log's. The Raft core then counts the synced offset.</summary>
    public bool OnSyncCompleted(long token, DiskStatus status, long nowMs)
    {
        if (_partition.Log.OnSyncCompleted(token, status))
        {
            OnLogSynced(nowMs);
            return true;
        }
        if (!_store.TryCompleteSync(token, status, out bool durable)) return false;
        if (!Begin(nowMs)) return true;
        if (durable) _raft.OnQuorumStateSynced(nowMs);
        AfterStep();
        return true;
    }

    /// <summary>The log's sync finished and the log already took the completion (on a broker the log manager owns the
    /// log's sync tokens and hands them to the log first): the Raft core counts the synced offset.</summary>
    public void OnLogSynced(long nowMs)
    {
        if (!Begin(nowMs)) return;
        _raft.OnLogSynced(nowMs);
        AfterStep();
    }

    // ---- Kafka's produce rules ---------------------------------------------------------------------------------

    /// <summary>
    /// A produce at this replica: NOT_LEADER_OR_FOLLOWER unless it leads in the partition's epoch; NOT_ENOUGH_REPLICAS
    /// for acks=all while the ISR is smaller than min.insync.replicas (nothing written); else the log's validation
    /// and the append as Raft leader in its epoch. <paramref name="wallNowMs"/> stamps LogAppendTime.
    /// </summary>
    public ReplicatedAppend Produce(ReadOnlyMemory<byte> records, short acks, long nowMs, long wallNowMs, bool fromCoordinator = false)
    {
        if (!Begin(nowMs)) return ReplicatedAppend.Failed(ErrorCode.NotLeaderOrFollower, "the replica is offline");
        if (!IsLeading) return ReplicatedAppend.Failed(ErrorCode.NotLeaderOrFollower, "not the leader");
        UpdateReplicaStates();
        if (acks == -1 && _partition.InSyncReplicas.Count < _config.MinInSyncReplicas)
            return ReplicatedAppend.Failed(ErrorCode.NotEnoughReplicas,
                $"{_partition.InSyncReplicas.Count} in-sync replicas, below min.insync.replicas {_config.MinInSyncReplicas}");
        int epoch = _raft.Epoch;
        _log.NowMs = wallNowMs;
        _log.FromCoordinator = fromCoordinator;
        long offset = _raft.Propose(new RaftRecords(records), nowMs);
        _log.FromCoordinator = false;
        _log.NowMs = nowMs;
        var result = _log.LastAppend;
        AfterStep();
        if (offset < 0)
            return result.Error != ErrorCode.None
                ? ReplicatedAppend.Failed(result.Error, result.ErrorMessage)
                : ReplicatedAppend.Failed(ErrorCode.NotLeaderOrFollower, "not the leader");
        return new ReplicatedAppend(ErrorCode.None, null, result.BaseOffset, result.LastOffset, epoch, result);
    }

    /// <summary>
    /// Whether a produce written by <see cref="Produce"/> may be answered now: null while it waits; NONE once acks=all's
    /// batch is below the high watermark (on a majority's disks) or acks=1's is below the leader's flushed offset;
    /// NOT_LEADER_OR_FOLLOWER once the epoch it was written in is over (its fate is unknown: a client retries).
    /// </summary>
    public ErrorCode? Completion(in ReplicatedAppend append, short acks)
    {
        Check.That(append.Error == ErrorCode.None);
        if (acks == -1 && _partition.HighWatermark > append.LastOffset) return ErrorCode.None;
        if (Offline || !_partition.IsLeader || _partition.LeaderEpoch != append.LeaderEpoch) return ErrorCode.NotLeaderOrFollower;
        if (acks == 0) return ErrorCode.None;
        if (acks == 1 && _partition.Log.FlushedOffset > append.LastOffset) return ErrorCode.None;
        return null;
    }

    private bool IsLeading => _raft.Role == RaftRole.Leader && _partition.IsLeader && _partition.LeaderEpoch == _raft.Epoch;

    // ---- keeping the partition in step with the Raft state -----------------------------------------------------

    private bool Begin(long nowMs)
    {
        if (Offline) return false;
        Check.That(nowMs >= _now, "the clock never goes back");
        _now = nowMs;
        _log.NowMs = nowMs;
        return true;
    }

    private void AfterStep()
    {
        if (!_store.Healthy || _partition.Log.Failure != ErrorCode.None)
        {
            GoOffline();
            return;
        }
        SyncRole();
        long hw = _raft.HighWatermark;
        if (_partition.IsLeader)
        {
            // A majority may have synced an entry before the leader's own sync finished: the partition's high
            // watermark also waits for the leader's copy (Partition.AdvanceHighWatermarkAsLeader's rule).
            hw = Math.Min(hw, _partition.Log.LocalCommittableOffset);
            if (hw > _partition.HighWatermark) _partition.AdvanceHighWatermarkAsLeader(hw);
        }
        else _partition.UpdateFollowerHighWatermark(hw);
        if (_partition.IsLeader) UpdateReplicaStates();
    }

    private void SyncRole()
    {
        int epoch = _raft.Epoch;
        if (_raft.Role == RaftRole.Leader)
        {
            if (_partition.IsLeader && _partition.LeaderEpoch == epoch) return;
            // A new leader starts with every replica in sync, as Kafka's leader starts with the ISR it was given;
            // replica.lag.time.max.ms without reaching the log end takes a follower out.
            _followers.Clear();
            foreach (int id in _replicas)
                if (id != _partition.LocalNodeId) _followers[id] = new FollowerState { LastFetchMs = _now, LastCaughtUpMs = _now };
            _partition.MakeLeader(epoch, _replicas, _replicas);
            _brokerLog.Info("Partition {TopicPartition}: leader in epoch {Epoch}", _partition.TopicPartition, epoch);
            return;
        }
        int leader = _raft.LeaderId == _partition.LocalNodeId || !_replicas.Contains(_raft.LeaderId) ? -1 : _raft.LeaderId;
        if (!_partition.IsLeader && _partition.LeaderEpoch == epoch && _partition.LeaderId == leader) return;
        _followers.Clear();
        _isrDeadline = long.MaxValue;
        _partition.MakeFollower(leader, epoch, _replicas);
        _partition.ClearReplicaStates();
    }

    private void GoOffline()
    {
        Offline = true;
        _followers.Clear();
        _isrDeadline = long.MaxValue;
        _brokerLog.Error("Partition {TopicPartition}: replica offline after a storage failure", _partition.TopicPartition);
        if (_partition.IsLeader) _partition.MakeFollower(-1, _partition.LeaderEpoch, _replicas);
    }

    /// <summary>Kafka's Replica.updateFetchState: a fetch at or past the leader's log end catches the follower up now;
    /// one at or past the log end the leader had at the follower's previous fetch caught it up then.</summary>
    private void TrackFollowerFetch(FetchRequestMessage f)
    {
        if (_raft.Role != RaftRole.Leader || f.CurrentLeaderEpoch != _raft.Epoch) return;
        if (!_followers.TryGetValue(f.Replica.Id, out var st) || !_voters.IsVoter(f.Replica)) return;
        var verdict = RaftRules.ValidateFetch(f.FetchOffset, f.LastFetchedEpoch, _log.LogStartOffsetAndEpoch, _log.LogEndOffset,
            _log.EndOffsetForEpoch(f.LastFetchedEpoch));
        if (verdict.Kind != FetchValidation.Outcome.Valid) { st.LastFetchMs = _now; return; }
        long leaderEnd = _log.LogEndOffset;
        if (f.FetchOffset >= leaderEnd) st.LastCaughtUpMs = _now;
        else if (st.LastFetchLeaderLogEnd >= 0 && f.FetchOffset >= st.LastFetchLeaderLogEnd) st.LastCaughtUpMs = Math.Max(st.LastCaughtUpMs, st.LastFetchMs);
        st.LastFetchLeaderLogEnd = leaderEnd;
        st.LastFetchMs = _now;
    }

    private void UpdateReplicaStates()
    {
        var isr = new List<int>(_replicas.Length);
        var offline = new List<int>();
        long deadline = long.MaxValue;
        foreach (int id in _replicas)
        {
            if (id == _partition.LocalNodeId) { isr.Add(id); continue; }
            var st = _followers[id];
            long outAt = st.LastCaughtUpMs + _config.ReplicaLagTimeMaxMs;
            if (_now <= outAt)
            {
                isr.Add(id);
                deadline = Math.Min(deadline, outAt + 1);
            }
            long offlineAt = st.LastFetchMs + _config.ReplicaLagTimeMaxMs;
            if (_now > offlineAt) offline.Add(id);
            else deadline = Math.Min(deadline, offlineAt + 1);
        }
        _isrDeadline = deadline;
        _partition.SetReplicaStates(isr, offline);
    }

    private bool ValidFetchedRecords(RaftRecords records, out string? why)
    {
        var span = records.Bytes.Span;
        var validation = Records.RecordBatchValidator.ValidateRecords(span, Records.RecordValidationOptions.ForRecovery() with { AllowControlBatches = true });
        if (!validation.IsValid) { why = $"invalid batches: {validation.Message}"; return false; }
        if (!Records.RecordBatchHeader.TryRead(span, out var first)) { why = "no batch header"; return false; }
        long end = _log.LogEndOffset;
        // An empty log restarted at a leader's log start inside a batch takes that whole batch (the adapter restarts it
        // at the batch's base), but never below this replica's high watermark (not supported yet: REPLICATION.md).
        bool emptyRestart = _log.LogStartOffset == end && first.BaseOffset < end && first.BaseOffset >= _partition.HighWatermark;
        if (first.BaseOffset != end && !emptyRestart) { why = $"records start at {first.BaseOffset}, the log ends at {end}"; return false; }
        why = null;
        return true;
    }

    // ---- IRaftLogOwner: the core's follower operations through the partition ------------------------------------

    AppendResult IRaftLogOwner.AppendAsFollower(ReadOnlyMemory<byte> records, long nowMs)
    {
        SyncRole();
        return _partition.AppendRecordsToFollower(records, nowMs);
    }

    ErrorCode IRaftLogOwner.TruncateTo(long offset)
    {
        SyncRole();
        return _partition.TruncateTo(offset);
    }

    ErrorCode IRaftLogOwner.TruncateFullyAndStartAt(long offset, long nowMs)
    {
        SyncRole();
        return _partition.TruncateFullyAndStartAt(offset, nowMs);
    }

    // The high watermark is applied after each step (AfterStep), once the partition's role matches the core's.
    void IRaftLogOwner.OnHighWatermark(long highWatermark) { }
}
