using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Storage;

namespace DetKafka.Core.Raft;

/// <summary>How an endpoint's requests leave the node: the node's peer client (<c>PeerNetwork</c>). False when the
/// request cannot leave now (no ready connection to the peer yet): the core sends it again after its request timeout.
/// The callback runs once, with the decoded answer or null (connection closed, timeout, undecodable).</summary>
public interface IRaftTransport
{
    bool TrySend(int destination, ApiKey key, IKafkaMessage body, Action<IKafkaMessage?> onResponse);
}

/// <summary>
/// One Raft-managed log on a broker, as the broker's handlers and driver see it: keyed by its topic partition
/// (<c>__cluster_metadata-0</c> for the metadata log, a data partition later), taking Kafka's wire messages for it and
/// answering them when the replica does (a follower's Fetch may park: the answer comes in a later step). Not generic,
/// so the node keeps one registry (<c>TopicPartition -> IRaftEndpoint</c>) whatever each log's records are;
/// <see cref="RaftEndpoint{TRecords}"/> is the adapter over a <see cref="RaftReplica{TRecords}"/>.
/// </summary>
public interface IRaftEndpoint
{
    TopicPartition TopicPartition { get; }
    RaftRole Role { get; }
    int Epoch { get; }
    /// <summary>The leader this replica knows (itself when leading), -1 when none.</summary>
    int LeaderId { get; }
    long HighWatermark { get; }
    long NextDeadlineMs { get; }

    void Poll(long nowMs);
    void OnVote(VoteRequest request, Action<VoteResponse> respond, long nowMs);
    void OnBeginQuorumEpoch(BeginQuorumEpochRequest request, Action<BeginQuorumEpochResponse> respond, long nowMs);
    void OnEndQuorumEpoch(EndQuorumEpochRequest request, Action<EndQuorumEpochResponse> respond, long nowMs);
    /// <summary>A replica's Fetch (ReplicaId >= 0) naming exactly this partition.</summary>
    void OnFetch(FetchRequest request, Action<FetchResponse> respond, long nowMs);
    /// <summary>DescribeQuorum's partition answer (NOT_LEADER_OR_FOLLOWER away from the leader).</summary>
    DescribeQuorumResponse.DescribeQuorumPartitionResponse Describe(Func<long, long> wallClockMs);
    /// <summary>A sync completion; false when the token is none of this log's.</summary>
    bool OnSyncCompleted(long token, DiskStatus status, long nowMs);
}
