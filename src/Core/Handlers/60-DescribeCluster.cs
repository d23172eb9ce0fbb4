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

    private const sbyte EndpointTypeControllers = 2;

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
        // Kafka's answers (KIP-919): a broker describes brokers; asked for controllers (2) it answers
        // MISMATCHED_ENDPOINT_TYPE, for any other type UNSUPPORTED_ENDPOINT_TYPE. v0 cannot name a type.
        if (request.Version >= 1 && describe.EndpointType != DescribeClusterRequest.EndpointTypeBrokers)
        {
            bool controllers = describe.EndpointType == EndpointTypeControllers;
            response.ErrorCode = controllers ? ErrorCode.MismatchedEndpointType : ErrorCode.UnsupportedEndpointType;
            response.ErrorMessage = controllers
                ? "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER"
                : $"Unsupported endpoint type {describe.EndpointType}";
            response.Brokers.Clear();
        }
        request.Respond(response);
    }
}
