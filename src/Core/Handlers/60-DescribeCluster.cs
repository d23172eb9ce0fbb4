using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>DescribeCluster (key 60), versions 0-1: this node is the whole cluster and its controller.</summary>
public sealed class DescribeClusterHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.DescribeCluster;
    public override short MinVersion => 0;
    public override short MaxVersion => 1;

    public override void Handle(RequestContext request, ref KafkaReader body)
    {
        var describe = DescribeClusterRequest.Read(ref body, request.Version);
        var config = Broker.Config;
        var response = new DescribeClusterResponse
        {
            ClusterId = Broker.ClusterId,
            ControllerId = config.NodeId,
            EndpointType = describe.EndpointType,
            Brokers = { new DescribeClusterResponse.DescribeClusterBroker { BrokerId = config.NodeId, Host = config.AdvertisedHost, Port = config.AdvertisedPort } },
        };
        if (request.Version >= 1 && describe.EndpointType != DescribeClusterRequest.EndpointTypeBrokers)
        {
            response.ErrorCode = ErrorCode.UnsupportedVersion;
            response.ErrorMessage = "Only broker endpoints are described.";
            response.Brokers.Clear();
        }
        request.Respond(response);
    }
}
