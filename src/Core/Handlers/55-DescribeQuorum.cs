using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>DescribeQuorum (key 55), versions 0-2 (KIP-595, KIP-853): for each Raft-managed partition asked for, its
/// leader, epoch, high watermark and the voters' and observers' progress, as the leader knows them
/// (NOT_LEADER_OR_FOLLOWER elsewhere, with the leader this node knows). Fetch times are reported in wall-clock ms.</summary>
public sealed class DescribeQuorumHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.DescribeQuorum;
    public override short MinVersion => 0;
    public override short MaxVersion => 2;

    public override void Handle(RequestContext request, ref KafkaReader body)
    {
        var r = DescribeQuorumRequest.Read(ref body, request.Version);
        var response = new DescribeQuorumResponse();
        long monotonic = Broker.Clock.MonotonicMs, wall = Broker.Clock.WallClockMs;
        foreach (var t in r.Topics)
        {
            var topic = new DescribeQuorumResponse.DescribeQuorumTopicResponse { TopicName = t.TopicName };
            response.Topics.Add(topic);
            foreach (var p in t.Partitions)
            {
                topic.Partitions.Add(Broker.FindRaftEndpoint(t.TopicName, p.PartitionIndex) is { } endpoint
                    ? endpoint.Describe(ms => wall - (monotonic - ms))
                    : new DescribeQuorumResponse.DescribeQuorumPartitionResponse
                    {
                        PartitionIndex = p.PartitionIndex, ErrorCode = ErrorCode.UnknownTopicOrPartition, LeaderId = -1, LeaderEpoch = -1, HighWatermark = -1,
                    });
            }
        }
        request.Respond(response);
    }
}
