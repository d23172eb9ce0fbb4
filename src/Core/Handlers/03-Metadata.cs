using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>
/// Metadata (key 3), versions 0-9. One broker, which is the controller and leads every partition (leader
/// epoch 0, replicas and ISR = this node). A null topic list (empty in v0) means all topics. An unknown
/// topic is created when auto.create.topics.enable is on and the request allows it (always before v4),
/// with num.partitions partitions; the response describes it at once, so clients need not retry.
/// </summary>
public sealed class MetadataHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.Metadata;
    public override short MinVersion => 0;
    public override short MaxVersion => 9;

    public override void Handle(RequestContext request, ref KafkaReader body)
    {
        var metadata = MetadataRequest.Read(ref body, request.Version);
        var config = Broker.Config;
        var response = new MetadataResponse
        {
            ClusterId = Broker.ClusterId,
            ControllerId = config.NodeId,
            Brokers = { new MetadataResponse.MetadataResponseBroker { NodeId = config.NodeId, Host = config.AdvertisedHost, Port = config.AdvertisedPort } },
        };
        if (metadata.Topics is null)
        {
            foreach (var topic in Broker.Topics) response.Topics.Add(Describe(topic));
        }
        else
        {
            bool autoCreate = config.AutoCreateTopicsEnable && (request.Version < 4 || metadata.AllowAutoTopicCreation);
            foreach (var requested in metadata.Topics)
            {
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
                    var (error, _) = Broker.CreateTopic(requested.Name, config.NumPartitions, [], validateOnly: false, out topic);
                    if (error != ErrorCode.None && error != ErrorCode.TopicAlreadyExists)
                    {
                        response.Topics.Add(new MetadataResponse.MetadataResponseTopic { Name = requested.Name, ErrorCode = error });
                        continue;
                    }
                }
                response.Topics.Add(topic is null
                    ? new MetadataResponse.MetadataResponseTopic { Name = requested.Name, ErrorCode = ErrorCode.UnknownTopicOrPartition }
                    : Describe(topic));
            }
        }
        request.Respond(response);
    }

    private MetadataResponse.MetadataResponseTopic Describe(TopicInfo topic)
    {
        int node = Broker.Config.NodeId;
        var t = new MetadataResponse.MetadataResponseTopic { Name = topic.Name, ErrorCode = ErrorCode.None, IsInternal = Groups.GroupRecords.IsInternalTopic(topic.Name) };
        for (int p = 0; p < topic.PartitionCount; p++)
        {
            t.Partitions.Add(new MetadataResponse.MetadataResponsePartition
            {
                ErrorCode = ErrorCode.None,
                PartitionIndex = p,
                LeaderId = node,
                LeaderEpoch = 0,
                ReplicaNodes = { node },
                IsrNodes = { node },
            });
        }
        return t;
    }
}
