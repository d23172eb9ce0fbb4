using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>DescribeCluster (key 60), versions 0-1: the brokers (this node alone, or the quorum's voters) and the
/// controller (this node, or the metadata quorum's leader as this node knows it, -1 when unknown).</summary>
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
            ControllerId = Broker.ControllerId,
            EndpointType = describe.EndpointType,
        };
        foreach (var b in Broker.ClusterBrokers)
            response.Brokers.Add(new DescribeClusterResponse.DescribeClusterBroker { BrokerId = b.NodeId, Host = b.Host, Port = b.Port });
        if (request.Version >= 1 && describe.EndpointType != DescribeClusterRequest.EndpointTypeBrokers)
        {
            response.ErrorCode = ErrorCode.UnsupportedVersion;
            response.ErrorMessage = "Only broker endpoints are described.";
            response.Brokers.Clear();
        }
        request.Respond(response);
    }
}
