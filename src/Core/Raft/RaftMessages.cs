using DetKafka.Core.Protocol;

namespace DetKafka.Core.Raft;

/// <summary>
/// A message between replicas of one log, decoded: the fields of Kafka's Vote, BeginQuorumEpoch, EndQuorumEpoch and
/// Fetch that the core uses, for one partition (RaftWire maps them to and from the generated wire classes, with
/// the topic and partition they are for). <see cref="CorrelationId"/> is the request header's: a response echoes its
/// request's, and the core ignores responses to requests it no longer waits for.
/// </summary>
public abstract record RaftMessage
{
    public int Source { get; init; }
    public int Destination { get; init; }
    public int CorrelationId { get; init; }
    /// <summary>The epoch the message speaks for (request's epoch, or the responder's latest known epoch).</summary>
    public abstract int Epoch { get; }
}

public sealed record VoteRequestMessage(int ReplicaEpoch, ReplicaKey Candidate, Guid VoterDirectoryId,
    int LastOffsetEpoch, long LastOffset, bool PreVote) : RaftMessage
{
    public override int Epoch => ReplicaEpoch;
}

public sealed record VoteResponseMessage(ErrorCode Error, int LeaderId, int LeaderEpoch, bool VoteGranted) : RaftMessage
{
    public override int Epoch => LeaderEpoch;
}

public sealed record BeginQuorumEpochRequestMessage(int LeaderId, int LeaderEpoch, Guid VoterDirectoryId) : RaftMessage
{
    public override int Epoch => LeaderEpoch;
}

public sealed record BeginQuorumEpochResponseMessage(ErrorCode Error, int LeaderId, int LeaderEpoch) : RaftMessage
{
    public override int Epoch => LeaderEpoch;
}

public sealed record EndQuorumEpochRequestMessage(int LeaderId, int LeaderEpoch, IReadOnlyList<ReplicaKey> PreferredCandidates) : RaftMessage
{
    public override int Epoch => LeaderEpoch;
}

public sealed record EndQuorumEpochResponseMessage(ErrorCode Error, int LeaderId, int LeaderEpoch) : RaftMessage
{
    public override int Epoch => LeaderEpoch;
}

/// <summary>A follower's (or observer's) Fetch: Kafka's FetchRequest with ReplicaId set, CurrentLeaderEpoch,
/// FetchOffset and LastFetchedEpoch (v12+); the directory id is Fetch v17's ReplicaDirectoryId. The fetch offset is
/// the follower's log end, sent only once everything below it is synced, so it tells the leader "on disk".</summary>
public sealed record FetchRequestMessage(ReplicaKey Replica, int CurrentLeaderEpoch, long FetchOffset, int LastFetchedEpoch,
    int MaxWaitMs) : RaftMessage
{
    public override int Epoch => CurrentLeaderEpoch;
}

/// <summary>Kafka's FetchResponse partition: error, high watermark, log start, and one of records, a diverging
/// epoch (truncate to it and fetch again) or a snapshot id (start over at the leader's log start).</summary>
public sealed record FetchResponseMessage<TRecords>(ErrorCode Error, int LeaderId, int LeaderEpoch, long HighWatermark,
    long LogStartOffset, OffsetAndEpoch? DivergingEpoch, OffsetAndEpoch? SnapshotId, TRecords? Records) : RaftMessage
{
    public override int Epoch => LeaderEpoch;
}
