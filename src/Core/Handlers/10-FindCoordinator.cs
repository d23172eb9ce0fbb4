using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>FindCoordinator (key 10), versions 0-4 (librdkafka uses groups only when the range includes 0).
/// A group's coordinator is the leader of its __consumer_offsets partition (created on the first lookup as Kafka
/// does): this node alone, or in a quorum whichever node leads it (BrokerNode.Coordinators.cs). A transactional id (key type 1) is coordinated by the leader of its __transaction_state partition.</summary>
public sealed class FindCoordinatorHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.FindCoordinator;
    public override short MinVersion => 0;
    public override short MaxVersion => 4;

    public override void Handle(RequestContext request, ref KafkaReader body)
    {
        var find = FindCoordinatorRequest.Read(ref body, request.Version);
        var response = new FindCoordinatorResponse();
        if (request.Version >= 4)
        {
            foreach (var key in find.CoordinatorKeys)
            {
                var (error, message, node) = Broker.FindCoordinatorNode(find.KeyType, key);
                response.Coordinators.Add(new FindCoordinatorResponse.Coordinator
                {
                    Key = key,
                    ErrorCode = error,
                    ErrorMessage = message,
                    NodeId = node?.NodeId ?? -1,
                    Host = node?.Host ?? "",
                    Port = node?.Port ?? -1,
                });
            }
        }
        else
        {
            sbyte keyType = request.Version >= 1 ? find.KeyType : FindCoordinatorRequest.KeyTypeGroup;
            var (error, message, node) = Broker.FindCoordinatorNode(keyType, find.Key);
            response.ErrorCode = error;
            response.ErrorMessage = message;
            response.NodeId = node?.NodeId ?? -1;
            response.Host = node?.Host ?? "";
            response.Port = node?.Port ?? -1;
        }
        request.Respond(response);
    }
}
