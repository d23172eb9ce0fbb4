using DetKafka.Core.Abstractions;

namespace DetKafka.Core.Raft;

/// <summary>
/// What a <see cref="RaftEndpoint{TRecords}"/> drives: a Raft core, possibly wrapped by the state machine that owns it
/// (a data partition's <c>PartitionReplica</c> validates fetched records, tracks followers' fetches for the ISR and keeps
/// the partition's role and high watermark in step after every input), so that wrapping logic stays in the path of
/// every message the transport carries. <see cref="Core"/> is read for the role, epoch, leader and Describe.
/// </summary>
public interface IRaftDriver<TRecords> where TRecords : class
{
    RaftReplica<TRecords> Core { get; }
    long NextDeadlineMs { get; }
    void Poll(long nowMs);
    void OnMessage(RaftMessage message, long nowMs);
    void DrainOutbox(List<RaftMessage> into);
    /// <summary>A sync completion; false when the token is none of this log's (or its quorum state's).</summary>
    bool OnSyncCompleted(long token, DiskStatus status, long nowMs);
}

/// <summary>The bare core as a driver (the metadata log): its log's and its quorum-state store's sync tokens.</summary>
public sealed class RaftReplicaDriver<TRecords>(RaftReplica<TRecords> core, Func<long, DiskStatus, bool> logSync, DiskQuorumStateStore store)
    : IRaftDriver<TRecords> where TRecords : class
{
    public RaftReplica<TRecords> Core => core;
    public long NextDeadlineMs => core.NextDeadlineMs;
    public void Poll(long nowMs) => core.Poll(nowMs);
    public void OnMessage(RaftMessage message, long nowMs) => core.OnMessage(message, nowMs);
    public void DrainOutbox(List<RaftMessage> into) => core.DrainOutbox(into);

    public bool OnSyncCompleted(long token, DiskStatus status, long nowMs)
    {
        if (logSync(token, status))
        {
            core.OnLogSynced(nowMs);
            return true;
        }
        if (store.TryCompleteSync(token, status, out bool durable))
        {
            if (durable) core.OnQuorumStateSynced(nowMs);
            return true;
        }
        return false;
    }
}
