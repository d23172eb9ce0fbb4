using DetKafka.Core.Protocol;
using DetKafka.Core.Storage;
using DetKafka.Core.Util;

namespace DetKafka.Core.Partitions;

/// <summary>
/// The partition's role (Kafka's <c>makeLeader</c> / <c>makeFollower</c>, driven by becomeLeaderOrFollower; under
/// REPLICATION.md by the partition's Raft state) and what each role may do. The leader epoch only grows. A leader
/// appends in its epoch; a follower appends what it fetched from its leader, truncates to where its log matches the
/// leader's (never below its high watermark: that data is committed) and learns its high watermark from the leader.
/// The replication that drives these (follower fetch, the majority high-watermark rule) is plugged in later: until
/// then a leader with more than one replica does not move its high watermark by itself (see
/// <see cref="AdvanceHighWatermarkAsLeader"/>).
/// </summary>
public sealed partial class Partition
{
    /// <summary>Kafka's <c>makeLeader</c>: this node leads from <paramref name="leaderEpoch"/> (at least the current
    /// epoch) with the given replica set and ISR (both containing this node).</summary>
    internal void MakeLeader(int leaderEpoch, IReadOnlyList<int> replicas, IReadOnlyList<int> isr)
    {
        Check.That(leaderEpoch >= LeaderEpoch, "a partition's leader epoch never decreases");
        Check.That(leaderEpoch >= Log.LatestEpoch, "a new leader's epoch is at least every epoch in its log");
        CheckReplicaSet(replicas, isr);
        Check.That(isr.Contains(LocalNodeId), "a leader is in its own ISR");
        LeaderId = LocalNodeId;
        LeaderEpoch = leaderEpoch;
        _replicas = replicas.ToArray();
        _isr = isr.ToArray();
        MaybeIncrementHighWatermark();
    }

    /// <summary>Kafka's <c>makeFollower</c>: <paramref name="leaderId"/> (-1: none known) leads in
    /// <paramref name="leaderEpoch"/> (at least the current epoch). The ISR is the leader's to decide; a follower
    /// reports the one it was given (the replicas when none).</summary>
    internal void MakeFollower(int leaderId, int leaderEpoch, IReadOnlyList<int> replicas, IReadOnlyList<int>? isr = null)
    {
        Check.That(leaderEpoch >= LeaderEpoch, "a partition's leader epoch never decreases");
        Check.That(leaderId != LocalNodeId, "a follower follows another node");
        Check.That(leaderId == -1 || replicas.Contains(leaderId), "the leader is one of the replicas");
        isr ??= replicas;
        CheckReplicaSet(replicas, isr);
        LeaderId = leaderId;
        LeaderEpoch = leaderEpoch;
        _replicas = replicas.ToArray();
        _isr = isr.ToArray();
    }

    private void CheckReplicaSet(IReadOnlyList<int> replicas, IReadOnlyList<int> isr)
    {
        Check.That(replicas.Count > 0 && replicas.Contains(LocalNodeId), "this node hosts a replica of the partition");
        Check.That(replicas.Distinct().Count() == replicas.Count && isr.Distinct().Count() == isr.Count, "replica ids are distinct");
        Check.That(isr.All(replicas.Contains), "the ISR is a subset of the replicas");
    }

    /// <summary>
    /// Kafka's <c>checkCurrentLeaderEpoch</c> then the role: a request's CurrentLeaderEpoch (-1: not given) older than
    /// the partition's is FENCED_LEADER_EPOCH (the sender's metadata is stale), newer is UNKNOWN_LEADER_EPOCH (this
    /// node's is); then NOT_LEADER_OR_FOLLOWER when the request needs the leader and this node is not it.
    /// </summary>
    public ErrorCode CheckLeaderEpoch(int currentLeaderEpoch, bool requireLeader)
    {
        if (currentLeaderEpoch != -1)
        {
            if (currentLeaderEpoch < LeaderEpoch) return ErrorCode.FencedLeaderEpoch;
            if (currentLeaderEpoch > LeaderEpoch) return ErrorCode.UnknownLeaderEpoch;
        }
        return requireLeader && !IsLeader ? ErrorCode.NotLeaderOrFollower : ErrorCode.None;
    }

    /// <summary>
    /// A fetch's LastFetchedEpoch check (Kafka's <c>Partition.fetchRecords</c>, KIP-595's log matching): where the
    /// fetcher's last epoch ends in this log. When that epoch is unknown here (an older one answers) or ends before
    /// the fetch offset, the fetcher's log diverges: the answer is the (epoch, end offset) to truncate to, and no
    /// records. Null when the logs agree (or no epoch was sent).
    /// </summary>
    public (int Epoch, long EndOffset)? DivergingEpoch(int lastFetchedEpoch, long fetchOffset)
    {
        if (lastFetchedEpoch < 0) return null;
        var (epoch, end) = Log.EndOffsetForEpoch(lastFetchedEpoch);
        return epoch < lastFetchedEpoch || end < fetchOffset ? (epoch, end) : null;
    }

    /// <summary>OffsetForLeaderEpoch from this replica's log: (epoch, end offset) or Kafka's UNDEFINED pair.</summary>
    public (int Epoch, long EndOffset) EndOffsetForEpoch(int leaderEpoch) => Log.EndOffsetForEpoch(leaderEpoch);

    /// <summary>A follower stores what it fetched from its leader (<see cref="UnifiedLog.AppendAsFollower"/>).</summary>
    internal AppendResult AppendRecordsToFollower(ReadOnlyMemory<byte> records, long nowMs)
    {
        Check.That(!IsLeader, "only a follower appends the leader's batches");
        return Log.AppendAsFollower(records, nowMs, maxEpoch: LeaderEpoch);
    }

    /// <summary>A follower cuts its log where it diverges from the leader's. Never below the high watermark:
    /// committed data is the same on every replica (REPLICATION.md), so a cut below it is a bug.</summary>
    internal ErrorCode TruncateTo(long offset)
    {
        Check.That(!IsLeader, "a leader never truncates its own log");
        Check.That(offset >= _highWatermark || offset >= Log.LogEndOffset, "a follower never truncates committed data");
        return Log.TruncateTo(offset);
    }

    /// <summary>A follower behind the leader's log start restarts its log empty there; the high watermark moves
    /// up with it.</summary>
    internal ErrorCode TruncateFullyAndStartAt(long offset, long nowMs)
    {
        Check.That(!IsLeader, "a leader never truncates its own log");
        Check.That(offset >= _highWatermark, "a follower never truncates committed data");
        var error = Log.TruncateFullyAndStartAt(offset, nowMs);
        if (error == ErrorCode.None) _highWatermark = offset;
        return error;
    }

    /// <summary>A follower's high watermark: the leader's, bounded by what this replica holds; never backwards.</summary>
    internal bool UpdateFollowerHighWatermark(long leaderHighWatermark)
    {
        Check.That(!IsLeader, "a leader computes its own high watermark");
        return RaiseHighWatermark(Math.Min(leaderHighWatermark, Log.LogEndOffset));
    }

    /// <summary>The hook replication's commit rule calls on the leader (the majority of synced replicas, from the
    /// leader's epoch): the high watermark moves to <paramref name="offset"/>, never backwards, never past what
    /// this replica has synced.</summary>
    internal bool AdvanceHighWatermarkAsLeader(long offset)
    {
        Check.That(IsLeader, "only the leader commits");
        Check.That(offset <= Log.LocalCommittableOffset, "the leader counts only what it has made durable itself");
        return RaiseHighWatermark(offset);
    }

    private bool RaiseHighWatermark(long offset)
    {
        if (offset <= _highWatermark) return false;
        _highWatermark = offset;
        Log.AdvanceHighWatermark(offset);
        return true;
    }
}
