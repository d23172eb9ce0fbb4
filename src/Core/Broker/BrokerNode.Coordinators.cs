using DetKafka.Core.Abstractions;
using System.Globalization;
using DetKafka.Core.Groups;
using DetKafka.Core.Partitions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Broker;

// Coordinators in a cluster (REPLICATION.md, "Coordinators on replicated partitions"): with a controller quorum the
// internal topics are created replicated (offsets.topic.replication.factor or transaction.state.log.replication.factor,
// capped at the brokers), the coordinator of a key is the leader of its internal partition, FindCoordinator names that
// leader from any node, and a node loads a partition's state when it leads it and drops it when it stops
// (CoordinatorLeadership.cs, for both coordinators). Single-node mode
// never reaches this file except through FindCoordinatorNode, which then answers this node as before.
public sealed partial class BrokerNode
{
    internal static bool IsCoordinatorTopic(string topic) => GroupRecords.IsInternalTopic(topic);

    /// <summary>An internal topic is missing in quorum mode: the controller proposes it (replicated over
    /// min(<paramref name="replicationFactor"/>, brokers)); any other node forwards a CreateTopics to the controller,
    /// fire and forget (the next FindCoordinator forwards again). Always COORDINATOR_NOT_AVAILABLE: the topic exists
    /// only once the creation commits, and its partitions need leaders before anyone coordinates.</summary>
    private ErrorCode RequestInternalTopic(string name, int partitions, int segmentBytes, int replicationFactor)
    {
        int factor = Math.Clamp(replicationFactor, 1, ClusterBrokers.Count);
        string segment = segmentBytes.ToString(CultureInfo.InvariantCulture);
        if (IsController)
        {
            var (error, message) = ProposeCreateTopic(name, partitions,
                [new(Storage.LogConfig.CleanupPolicyName, "compact"), new(Storage.LogConfig.SegmentBytesName, segment)],
                validateOnly: false, out _, out _, factor);
            if (error != ErrorCode.None && error != ErrorCode.TopicAlreadyExists)
                Log.Warn("Could not propose {Topic}: {Error} {Message}", name, error, message);
            return ErrorCode.CoordinatorNotAvailable;
        }
        int controller = ControllerId;
        if (controller < 0 || PeerClient is not { } client || !client.Ready(controller)) return ErrorCode.CoordinatorNotAvailable;
        client.Send(controller, ApiKey.CreateTopics, new CreateTopicsRequest
        {
            TimeoutMs = 30_000,
            Topics =
            [
                new CreateTopicsRequest.CreatableTopic
                {
                    Name = name, NumPartitions = partitions, ReplicationFactor = (short)factor,
                    Configs =
                    [
                        new CreateTopicsRequest.CreatableTopicConfig { Name = Storage.LogConfig.CleanupPolicyName, Value = "compact" },
                        new CreateTopicsRequest.CreatableTopicConfig { Name = Storage.LogConfig.SegmentBytesName, Value = segment },
                    ],
                },
            ],
        }, _ => { });
        return ErrorCode.CoordinatorNotAvailable;
    }

    /// <summary>
    /// FindCoordinator for one key: the error and the coordinator's node. Single node: this node when it coordinates
    /// (the coordinators' own checks). Quorum: the leader of the key's internal partition as this node knows it (its
    /// own replica's view when it hosts the partition, else the image's preferred replica, since leaders are not
    /// reported into the metadata log yet); COORDINATOR_NOT_AVAILABLE while the topic is being created or the
    /// partition has no leader. A leader still loading is named: its group (or transaction) requests answer
    /// COORDINATOR_LOAD_IN_PROGRESS until it is ready, as Kafka's do.
    /// </summary>
    internal (ErrorCode Error, string? Message, QuorumVoter? Node) FindCoordinatorNode(sbyte keyType, string key)
    {
        bool group = keyType == FindCoordinatorRequest.KeyTypeGroup;
        bool txn = keyType == FindCoordinatorRequest.KeyTypeTransaction;
        if (!IsQuorumMode || !(group || txn) || string.IsNullOrEmpty(key))
        {
            var (error, message) = Groups.FindCoordinator(keyType, key);
            return (error, message, error == ErrorCode.None ? new QuorumVoter(Config.NodeId, Config.AdvertisedHost, Config.AdvertisedPort) : null);
        }
        string topic = group ? GroupRecords.OffsetsTopic : DetKafka.Core.Transactions.TransactionRecords.StateTopic;
        var ensured = group ? Groups.EnsureOffsetsTopic() : this.Transactions.EnsureStateTopic();
        if (ensured != ErrorCode.None || FindTopic(topic) is not { } info)
            return (ErrorCode.CoordinatorNotAvailable, "the internal topic is being created", null);
        int p = group ? Groups.PartitionFor(key) : this.Transactions.PartitionFor(key);
        int leader = PartitionLeaderId(info, p);
        foreach (var b in ClusterBrokers)
            if (b.NodeId == leader) return (ErrorCode.None, null, b);
        return (ErrorCode.CoordinatorNotAvailable, $"{topic}-{p} has no leader", null);
    }

    /// <summary>The leader of a replicated partition as this node knows it (-1 none): its own replica's view when it
    /// hosts the partition, else the image's preferred replica (leaders are not reported into the metadata log yet).
    /// FindCoordinator names it; the transaction coordinator sends markers to it.</summary>
    internal int PartitionLeaderId(TopicInfo topic, int p)
    {
        if (Replicas.GetPartition(topic.Name, p) is { } local && (local.Replica is not null || local.IsLeader))
            return local.IsLeader ? Config.NodeId : local.LeaderId;
        return p < topic.Replicas.Count && topic.Replicas[p].Length > 0 ? topic.Replicas[p][0] : -1;
    }

    /// <summary>A replicated internal partition's leadership or high watermark moved (after any input).</summary>
    private void OnCoordinatorPartitionMoved(Partition partition)
    {
        if (partition.TopicPartition.Topic == GroupRecords.OffsetsTopic) Groups.OnOffsetsPartitionMoved(partition);
        else if (partition.TopicPartition.Topic == DetKafka.Core.Transactions.TransactionRecords.StateTopic) Transactions.OnStatePartitionMoved(partition);
    }
}
