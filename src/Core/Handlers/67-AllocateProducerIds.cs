using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>
/// AllocateProducerIds (key 67), version 0 (KIP-730): a broker asks the controller for a block of producer ids. The
/// controller proposes a ProducerIdsRecord and answers the block once it commits (BrokerNode.ProducerIds.cs);
/// NOT_CONTROLLER at any other node, or when the proposal is abandoned; BROKER_ID_NOT_REGISTERED for a node that is
/// not one of the quorum's brokers. Single-node mode has no peers: NOT_CONTROLLER would be wrong there, it answers
/// from the same path (the node is its own controller).
/// </summary>
public sealed class AllocateProducerIdsHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.AllocateProducerIds;
    public override short MinVersion => 0;
    public override short MaxVersion => 0;

    private const int BlockSize = (int)BrokerNode.ProducerIdBlockSize;

    public override void Handle(RequestContext request, ref KafkaReader body)
    {
        var allocate = AllocateProducerIdsRequest.Read(ref body, request.Version);
        if (!Broker.ClusterBrokers.Any(b => b.NodeId == allocate.BrokerId))
        {
            request.Respond(new AllocateProducerIdsResponse { ErrorCode = ErrorCode.BrokerIdNotRegistered, ProducerIdStart = -1 });
            return;
        }
        var error = Broker.ProposeProducerIdBlock(allocate.BrokerId, out long offset, out long start);
        if (error != ErrorCode.None)
        {
            request.Respond(new AllocateProducerIdsResponse { ErrorCode = error, ProducerIdStart = -1 });
            return;
        }
        Broker.WhenMetadataResolved(offset, committed => request.Respond(offset <= committed
            ? new AllocateProducerIdsResponse { ErrorCode = ErrorCode.None, ProducerIdStart = start, ProducerIdLen = BlockSize }
            : new AllocateProducerIdsResponse { ErrorCode = ErrorCode.NotController, ProducerIdStart = -1 }));
    }
}
