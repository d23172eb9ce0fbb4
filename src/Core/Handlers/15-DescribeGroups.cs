using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>DescribeGroups (key 15), versions 0-5: state, protocol, members (metadata and assignment only
/// when Stable, as Kafka). An unknown group is described as Dead with no error.</summary>
public sealed class DescribeGroupsHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.DescribeGroups;
    public override short MinVersion => 0;
    public override short MaxVersion => 5;

    public override void Handle(RequestContext request, ref KafkaReader body)
    {
        var describe = DescribeGroupsRequest.Read(ref body, request.Version);
        var response = new DescribeGroupsResponse();
        foreach (var id in describe.Groups) response.Groups.Add(Broker.Groups.Describe(id));
        request.Respond(response);
    }
}
