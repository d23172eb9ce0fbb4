namespace DetKafka.Core.Raft;

/// <summary>
/// The replicated log as the Raft core sees it (REPLICATION.md, "The log abstraction"). <typeparamref name="TRecords"/>
/// is an opaque run of entries: record batches (UnifiedLog) or the simulator's entries. Every entry has an offset
/// and the epoch of the leader that appended it; the log keeps an epoch cache (the start offset of each epoch), so it
/// can answer <see cref="EndOffsetForEpoch"/> for log matching. Writes go to a volatile cache; <see cref="RequestSync"/>
/// asks the disk to make everything written so far durable, and the driver later calls
/// <see cref="RaftReplica{TRecords}.OnLogSynced"/> (one sync in flight at a time, group commit).
/// </summary>
public interface IRaftLog<TRecords>
{
    long LogStartOffset { get; }
    /// <summary>The log start offset and the epoch of the entry just below it (-1 when unknown): what a follower's
    /// fetch at the log start is checked against, and the metadata log's snapshot id.</summary>
    OffsetAndEpoch LogStartOffsetAndEpoch { get; }
    long LogEndOffset { get; }
    /// <summary>Everything below this is on disk (the flushed offset).</summary>
    long SyncedEndOffset { get; }
    /// <summary>The log end offset and the epoch of the last entry (or of the snapshot at the log start).</summary>
    OffsetAndEpoch EndOffsetAndEpoch { get; }

    /// <summary>Kafka's LeaderEpochFileCache.endOffsetFor: the largest epoch &lt;= <paramref name="epoch"/> this log
    /// has, and the offset where it ends (the next epoch's start, or the log end for the latest). (-1, -1) when the
    /// log has no epoch that old.</summary>
    OffsetAndEpoch EndOffsetForEpoch(int epoch);

    /// <summary>Appends <paramref name="count"/> entries made from <paramref name="records"/> at the log end with this
    /// epoch (the leader's own writes); returns the offset of the first.</summary>
    long AppendAsLeader(TRecords records, int epoch);

    /// <summary>The leader-change control entry a new leader appends first (KIP-595's LeaderChangeMessage), so it
    /// has an entry of its own epoch to commit.</summary>
    long AppendLeaderChange(int epoch, int leaderId);

    /// <summary>Appends entries fetched from the leader; they start at the log end and carry their own epochs.</summary>
    void AppendAsFollower(TRecords records);

    /// <summary>Up to <paramref name="maxEntries"/> entries from <paramref name="fromOffset"/> (>= log start, &lt;=
    /// log end); null when there are none.</summary>
    TRecords? Read(long fromOffset, int maxEntries);

    /// <summary>Removes every entry at or above <paramref name="offset"/> (never below the high watermark).</summary>
    void TruncateTo(long offset);

    /// <summary>Drops the whole log and starts it empty at <paramref name="offset"/>, the previous entry being of
    /// <paramref name="epoch"/> (a far-behind follower restarting at the leader's log start).</summary>
    void TruncateFullyAndStartAt(long offset, int epoch);

    /// <summary>Asks the disk to make everything written so far durable; completion arrives as OnLogSynced.</summary>
    void RequestSync();
    bool SyncInFlight { get; }

    /// <summary>The committed offset moved (the state machine may apply up to it; retention may delete below it).</summary>
    void OnHighWatermark(long highWatermark);
}

/// <summary>The durable quorum state's store (Kafka's quorum-state file). <see cref="Write"/> replaces the volatile
/// copy and starts a sync; the driver calls <see cref="RaftReplica{TRecords}.OnQuorumStateSynced"/> when it is
/// durable. Nothing that depends on a state leaves the node before that.</summary>
public interface IQuorumStateStore
{
    /// <summary>The state the store holds, or null for an empty disk.</summary>
    QuorumStateData? Read();
    void Write(QuorumStateData state);
}

/// <summary>The metadata log's snapshot hook: a follower asked to start at the leader's log start loads the
/// leader's snapshot there (FetchSnapshot, API 59, is later work) instead of starting empty.</summary>
public interface IRaftSnapshotHook
{
    void LoadSnapshot(OffsetAndEpoch snapshotId);
}
