using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>
/// DeleteRecords (key 21), versions 0-2. Moves each partition's log start offset up to the given offset
/// (-1: the high watermark), durably, before answering; segments wholly below it are deleted. An offset
/// above the high watermark is OFFSET_OUT_OF_RANGE.
/// </summary>
public sealed class DeleteRecordsHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.DeleteRecords;
    public override short MinVersion => 0;
    public override short MaxVersion => 2;

    public override void Handle(RequestContext request, ref KafkaReader body)
    {
        var delete = DeleteRecordsRequest.Read(ref body, request.Version);
        var response = new DeleteRecordsResponse();
        foreach (var topic in delete.Topics)
        {
            var t = new DeleteRecordsResponse.DeleteRecordsTopicResult { Name = topic.Name };
            response.Topics.Add(t);
            foreach (var partition in topic.Partitions)
            {
                var p = new DeleteRecordsResponse.DeleteRecordsPartitionResult { PartitionIndex = partition.PartitionIndex, LowWatermark = -1 };
                t.Partitions.Add(p);
                var replica = Broker.Replicas.GetPartition(topic.Name, partition.PartitionIndex);
                if (replica is null)
                {
                    p.ErrorCode = ErrorCode.UnknownTopicOrPartition;
                    continue;
                }
                if (!replica.IsLeader)
                {
                    // Kafka: only the leader moves the log start; followers follow it.
                    p.ErrorCode = ErrorCode.NotLeaderOrFollower;
                    continue;
                }
                (p.ErrorCode, p.LowWatermark) = replica.DeleteRecordsBefore(partition.Offset);
            }
        }
        request.Respond(response);
    }
}
