using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>
/// Metadata (key 3), versions 0-12. One broker, which is the controller; each partition's leader, leader epoch,
/// replicas and ISR come from the partition layer (<see cref="Partitions.ReplicaManager"/>: this node, in epoch 0 for a
/// new partition and a new epoch after each restart, unless MakeLeader/MakeFollower said otherwise).
/// A null topic list (empty in v0) means all topics. An unknown
/// topic is created when auto.create.topics.enable is on and the request allows it (always before v4),
/// with num.partitions partitions; the response waits until the creation is durable in the metadata log and then
/// describes the topic, so clients need not retry. From v10
/// topics carry their ids; from v12 a topic may be asked for by id alone (UNKNOWN_TOPIC_ID when no topic has
/// it; never auto-created).
/// </summary>
public sealed class MetadataHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.Metadata;
    public override short MinVersion => 0;
    public override short MaxVersion => 12;

    public override void Handle(RequestContext request, ref KafkaReader body)
    {
        var metadata = MetadataRequest.Read(ref body, request.Version);
        var config = Broker.Config;
        var response = new MetadataResponse
        {
            ClusterId = Broker.ClusterId,
            ControllerId = Broker.ControllerId,
        };
        foreach (var b in Broker.ClusterBrokers)
            response.Brokers.Add(new MetadataResponse.MetadataResponseBroker { NodeId = b.NodeId, Host = b.Host, Port = b.Port });
        if (metadata.Topics is null)
        {
            foreach (var topic in Broker.Topics) response.Topics.Add(Describe(topic));
        }
        else
        {
            bool autoCreate = config.AutoCreateTopicsEnable && (request.Version < 4 || metadata.AllowAutoTopicCreation);
            // Auto-creations are proposed first, all of them, and the topics described once they are durable (one
            // sync covers them all): a client is never shown a topic a crash could take back.
            Dictionary<string, ErrorCode>? refused = null;
            long wait = -1;
            if (autoCreate)
            {
                foreach (var requested in metadata.Topics)
                {
                    if (requested.Name is not { } name || Broker.FindTopic(name) is not null
                        || name == Groups.GroupRecords.OffsetsTopic || name == Transactions.TransactionRecords.StateTopic) continue;
                    if (Broker.FindControllerTopic(name) is not null)
                    {
                        // Someone else's creation is in flight: wait for everything proposed so far.
                        wait = Math.Max(wait, Broker.LastProposedMetadataOffset);
                        continue;
                    }
                    var (error, _) = Broker.ProposeCreateTopic(name, config.NumPartitions, [], validateOnly: false, out _, out long offset);
                    if (error == ErrorCode.None) wait = Math.Max(wait, offset);
                    else if (error == ErrorCode.NotController)
                    {
                        // Kafka's broker forwards the auto-creation to the controller and answers LEADER_NOT_AVAILABLE
                        // (retriable): the client asks again and sees the topic once the quorum committed it.
                        Broker.ForwardAutoCreate(name);
                        (refused ??= new Dictionary<string, ErrorCode>(StringComparer.Ordinal))[name] = ErrorCode.LeaderNotAvailable;
                    }
                    else (refused ??= new Dictionary<string, ErrorCode>(StringComparer.Ordinal))[name] = error;
                }
            }
            Broker.WhenMetadataResolved(wait, _ =>
            {
                DescribeRequested(response, metadata.Topics, autoCreate, refused);
                request.Respond(response);
            });
            return;
        }
        request.Respond(response);
    }

    private void DescribeRequested(MetadataResponse response, List<MetadataRequest.MetadataRequestTopic> topics, bool autoCreate,
        Dictionary<string, ErrorCode>? refused)
    {
        {
            foreach (var requested in topics)
            {
                if (requested.Name is null)
                {
                    var byId = requested.TopicId == Guid.Empty ? null : Broker.Topics.FirstOrDefault(t => t.TopicId == requested.TopicId);
                    response.Topics.Add(byId is null
                        ? new MetadataResponse.MetadataResponseTopic { Name = null, TopicId = requested.TopicId, ErrorCode = ErrorCode.UnknownTopicId }
                        : Describe(byId));
                    continue;
                }
                var topic = Broker.FindTopic(requested.Name);
                if (topic is null && autoCreate && requested.Name == Groups.GroupRecords.OffsetsTopic)
                {
                    Broker.Groups.EnsureOffsetsTopic();
                    topic = Broker.FindTopic(requested.Name);
                }
                else if (topic is null && autoCreate && requested.Name == Transactions.TransactionRecords.StateTopic)
                {
                    Broker.Transactions.EnsureStateTopic();
                    topic = Broker.FindTopic(requested.Name);
                }
                else if (topic is null && autoCreate)
                {
                    // Refused when proposed (an invalid name), or proposed and abandoned (a failed sync).
                    var error = refused is not null && refused.TryGetValue(requested.Name, out var e) ? e : ErrorCode.KafkaStorageError;
                    response.Topics.Add(new MetadataResponse.MetadataResponseTopic { Name = requested.Name, ErrorCode = error });
                    continue;
                }
                response.Topics.Add(topic is null
                    ? new MetadataResponse.MetadataResponseTopic { Name = requested.Name, ErrorCode = ErrorCode.UnknownTopicOrPartition }
                    : Describe(topic));
            }
        }
    }

    private MetadataResponse.MetadataResponseTopic Describe(TopicInfo topic)
    {
        var t = new MetadataResponse.MetadataResponseTopic { Name = topic.Name, TopicId = topic.TopicId, ErrorCode = ErrorCode.None, IsInternal = Groups.GroupRecords.IsInternalTopic(topic.Name) };
        for (int p = 0; p < topic.PartitionCount; p++)
        {
            var entry = new MetadataResponse.MetadataResponsePartition { ErrorCode = ErrorCode.None, PartitionIndex = p };
            // Leader, epoch and replicas as the partition layer knows them; a partition without a replica here
            // (a log that could not be opened) is described as the metadata has it: led by this node, epoch 0.
            if (Broker.IsQuorumMode && Broker.Replicas.GetPartition(topic.Name, p) is { Replica: not null } replicated)
            {
                // A replicated partition hosted here: leader and epoch as its Raft replica knows them (no leader
                // known: LEADER_NOT_AVAILABLE, the client retries); ISR and offline replicas as the leader measures
                // them (a follower reports every replica in sync and none offline).
                if (replicated.LeaderId < 0) entry.ErrorCode = ErrorCode.LeaderNotAvailable;
                entry.LeaderId = replicated.LeaderId;
                entry.LeaderEpoch = replicated.LeaderEpoch;
                entry.ReplicaNodes.AddRange(replicated.Replicas);
                entry.IsrNodes.AddRange(replicated.InSyncReplicas);
                entry.OfflineReplicas.AddRange(replicated.OfflineReplicas);
            }
            else if (Broker.IsQuorumMode && p < topic.Replicas.Count)
            {
                // A quorum: what the metadata image knows (placement; the first replica is the preferred leader).
                // A replicated partition this node does not host: its leader is elected among its replicas and not
                // reported into the metadata log yet (PartitionChangeRecord, REPLICATION.md): the preferred replica.
                entry.LeaderId = topic.Replicas[p][0];
                entry.LeaderEpoch = 0;
                entry.ReplicaNodes.AddRange(topic.Replicas[p]);
                entry.IsrNodes.AddRange(topic.Replicas[p]);
            }
            else if (Broker.Replicas.GetPartition(topic.Name, p) is { } replica)
            {
                entry.LeaderId = replica.LeaderId;
                entry.LeaderEpoch = replica.LeaderEpoch;
                entry.ReplicaNodes.AddRange(replica.Replicas);
                entry.IsrNodes.AddRange(replica.InSyncReplicas);
                entry.OfflineReplicas.AddRange(replica.OfflineReplicas);
            }
            else
            {
                entry.LeaderId = Broker.Config.NodeId;
                entry.LeaderEpoch = 0;
                entry.ReplicaNodes.Add(Broker.Config.NodeId);
                entry.IsrNodes.Add(Broker.Config.NodeId);
            }
            t.Partitions.Add(entry);
        }
        return t;
    }
}
