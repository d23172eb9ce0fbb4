using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>ConsumerGroupDescribe (key 69), versions 0-1: epochs, assignor and each member's subscription,
/// assignment and target. GROUP_ID_NOT_FOUND for a group that does not exist or is classic (Kafka's answer).
/// Authorized operations are not computed (no ACLs): int.MinValue.</summary>
public sealed class ConsumerGroupDescribeHandler(BrokerNode broker) : ApiHandler(broker)
{
    /// <summary>Groups described per request at most; the rest get INVALID_REQUEST (bounds on everything).</summary>
    public const int GroupsPerRequestMax = 10_000;

    public override ApiKey Key => ApiKey.ConsumerGroupDescribe;
    public override short MinVersion => 0;
    public override short MaxVersion => 1;

    public override void Handle(RequestContext request, ref KafkaReader body)
    {
        var describe = ConsumerGroupDescribeRequest.Read(ref body, request.Version);
        var response = new ConsumerGroupDescribeResponse();
        for (int i = 0; i < describe.GroupIds.Count; i++)
        {
            string id = describe.GroupIds[i];
            response.Groups.Add(i < GroupsPerRequestMax
                ? Broker.Groups.DescribeConsumerGroup(id, request.Version)
                : new ConsumerGroupDescribeResponse.DescribedGroup { GroupId = id, GroupState = "", ErrorCode = ErrorCode.InvalidRequest });
        }
        request.Respond(response);
    }
}
