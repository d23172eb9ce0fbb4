using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>
/// CreateTopics (key 19), versions 0-7. Single node: the replication factor must be 1 or -1 (the broker
/// default) and manual assignments may name only this node. num_partitions -1 takes num.partitions.
/// validate_only checks everything and creates nothing. v5+ echoes the partitions, replication factor and
/// the topic's configs; v7 the topic id.
/// </summary>
public sealed class CreateTopicsHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.CreateTopics;
    public override short MinVersion => 0;
    public override short MaxVersion => 7;

    public override void Handle(RequestContext request, ref KafkaReader body)
    {
        var create = CreateTopicsRequest.Read(ref body, request.Version);
        var response = new CreateTopicsResponse();
        // Kafka refuses every entry of a name given more than once and creates none of them, so a client cannot
        // learn which of two different specs won.
        var duplicated = create.Topics.GroupBy(t => t.Name, StringComparer.Ordinal).Where(g => g.Count() > 1)
            .Select(g => g.Key).ToHashSet(StringComparer.Ordinal);
        var proposed = new List<(CreateTopicsResponse.CreatableTopicResult Result, long Offset)>();
        foreach (var t in create.Topics)
        {
            var result = new CreateTopicsResponse.CreatableTopicResult { Name = t.Name, Configs = null };
            response.Topics.Add(result);
            if (duplicated.Contains(t.Name))
            {
                (result.ErrorCode, result.ErrorMessage) = (ErrorCode.InvalidRequest, $"Topic '{t.Name}' appears more than once in the request.");
                continue;
            }
            int partitions = t.NumPartitions;
            if (t.Assignments.Count > 0)
            {
                if (t.NumPartitions != -1 || t.ReplicationFactor != -1)
                {
                    (result.ErrorCode, result.ErrorMessage) = (ErrorCode.InvalidRequest, "Both assignments and num_partitions/replication_factor were given.");
                    continue;
                }
                bool onlyUs = t.Assignments.All(a => a.BrokerIds.Count == 1 && a.BrokerIds[0] == Broker.Config.NodeId);
                bool dense = t.Assignments.Select(a => a.PartitionIndex).OrderBy(i => i).SequenceEqual(Enumerable.Range(0, t.Assignments.Count));
                if (!onlyUs || !dense)
                {
                    (result.ErrorCode, result.ErrorMessage) = (ErrorCode.InvalidReplicaAssignment, $"Assignments must name partitions 0..n-1, each on broker {Broker.Config.NodeId} only.");
                    continue;
                }
                partitions = t.Assignments.Count;
            }
            else if (t.ReplicationFactor is not (-1 or 1))
            {
                (result.ErrorCode, result.ErrorMessage) = (ErrorCode.InvalidReplicationFactor, $"Replication factor {t.ReplicationFactor} is larger than the 1 available broker.");
                continue;
            }
            if (partitions == -1) partitions = Broker.Config.NumPartitions;
            var configs = t.Configs.Select(c => new KeyValuePair<string, string?>(c.Name, c.Value)).ToList();
            var (error, message) = Broker.ProposeCreateTopic(t.Name, partitions, configs, create.ValidateOnly, out var topic, out long offset);
            result.ErrorCode = error;
            result.ErrorMessage = message;
            if (error != ErrorCode.None || topic is null) continue;
            if (offset >= 0) proposed.Add((result, offset));
            result.TopicId = topic.TopicId;
            result.NumPartitions = topic.PartitionCount;
            result.ReplicationFactor = 1;
            result.Configs = DescribeConfigsHandler.TopicConfigEntries(Broker, topic)
                .Select(e => new CreateTopicsResponse.CreatableTopicConfigs { Name = e.Name, Value = e.Value, ReadOnly = e.ReadOnly, ConfigSource = e.Source })
                .ToList();
        }
        // Answered once every creation is durable (or failed to become so).
        Broker.AnswerWhenResolved(proposed, result =>
        {
            (result.ErrorCode, result.ErrorMessage) = (ErrorCode.KafkaStorageError, BrokerNode.MetadataWriteFailed);
            (result.TopicId, result.NumPartitions, result.ReplicationFactor, result.Configs) = (Guid.Empty, -1, -1, null);
        }, () => request.Respond(response));
    }
}
