using DetKafka.Core.Partitions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>
/// Fetch's per-partition checks that replication brings (Kafka's <c>Partition.fetchRecords</c>): the
/// CurrentLeaderEpoch fence (v9+), the leader-only rule (consumers and followers alike fetch from the leader:
/// NOT_LEADER_OR_FOLLOWER with the leader this node knows in the v12+ CurrentLeader tagged field), and the
/// LastFetchedEpoch check (v12+): a fetcher whose last epoch ends before its fetch offset here gets the
/// DivergingEpoch tagged field and no records, and truncates to it.
/// </summary>
internal static class FetchCheck
{
    /// <summary>True when the partition's answer is decided here (an error or a divergence) and nothing is read.</summary>
    public static bool Rejects(Partition replica, FetchRequest.FetchPartition partition, FetchResponse.PartitionData p)
    {
        var error = replica.CheckLeaderEpoch(partition.CurrentLeaderEpoch, requireLeader: true);
        if (error != ErrorCode.None)
        {
            p.ErrorCode = error;
            p.HighWatermark = -1;
            p.LastStableOffset = -1;
            p.LogStartOffset = -1;
            if (error is ErrorCode.NotLeaderOrFollower or ErrorCode.FencedLeaderEpoch)
            {
                // Written only in v12+ (a tagged field) and only when the leader is known.
                p.CurrentLeader.LeaderId = replica.LeaderId;
                p.CurrentLeader.LeaderEpoch = replica.LeaderEpoch;
            }
            return true;
        }
        if (replica.DivergingEpoch(partition.LastFetchedEpoch, partition.FetchOffset) is { } diverging)
        {
            p.ErrorCode = ErrorCode.None;
            p.HighWatermark = replica.HighWatermark;
            p.LastStableOffset = replica.Log.LastStableOffset;
            p.LogStartOffset = replica.LogStartOffset;
            p.DivergingEpoch.Epoch = diverging.Epoch;
            p.DivergingEpoch.EndOffset = diverging.EndOffset;
            // Not an error code, but the fetch answers at once (the caller counts it as decided): the fetcher reads
            // nothing here until it has truncated, so waiting for data would only delay that.
            return true;
        }
        return false;
    }
}
