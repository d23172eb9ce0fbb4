using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Storage;

namespace DetKafka.Core.Broker;

/// <summary>
/// The internal compacted topics a coordinator keeps its state in (<c>__consumer_offsets</c> for groups,
/// <c>__transaction_state</c> for transactions): one way to create them and one rule for "this node coordinates
/// a key", so the group and transaction coordinators cannot drift apart.
/// </summary>
public sealed partial class BrokerNode
{
    /// <summary>Creates internal topic <paramref name="name"/> when it does not exist yet (Kafka creates it on the
    /// first FindCoordinator for it): compacted, with the given partitions and segment size.</summary>
    internal ErrorCode EnsureInternalTopic(string name, int partitions, int segmentBytes, int replicationFactor = 1)
    {
        if (FindTopic(name) is not null) return ErrorCode.None;
        // A quorum commits the creation in later steps: proposed (or forwarded to the controller) now, and the
        // client that asked retries (COORDINATOR_NOT_AVAILABLE) until the partitions exist and have leaders.
        if (IsQuorumMode) return RequestInternalTopic(name, partitions, segmentBytes, replicationFactor);
        var (error, message) = CreateTopic(name, partitions,
            [new(LogConfig.CleanupPolicyName, "compact"), new(LogConfig.SegmentBytesName, segmentBytes.ToString(System.Globalization.CultureInfo.InvariantCulture))],
            validateOnly: false, out _);
        if (error != ErrorCode.None && error != ErrorCode.TopicAlreadyExists)
        {
            Log.Error("Could not create {Topic}: {Error} {Message}", name, error, message);
            return ErrorCode.CoordinatorNotAvailable;
        }
        return ErrorCode.None;
    }

    /// <summary>Whether this node coordinates the keys of partition <paramref name="partition"/> of internal topic
    /// <paramref name="topic"/>: the topic exists, this node leads the partition, and its log is healthy.</summary>
    internal ErrorCode CoordinatorError(string topic, int partition)
    {
        if (FindTopic(topic) is null) return ErrorCode.CoordinatorNotAvailable;
        var replica = Replicas.GetPartition(topic, partition);
        if (replica is not { IsLeader: true }) return ErrorCode.NotCoordinator;
        return replica.Failure != ErrorCode.None ? ErrorCode.CoordinatorNotAvailable : ErrorCode.None;
    }
}
