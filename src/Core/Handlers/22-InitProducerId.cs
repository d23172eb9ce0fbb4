using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>
/// InitProducerId (key 22), versions 0-4. An idempotent producer (no transactional id) gets a fresh producer id at
/// epoch 0, unique across the cluster's life (<see cref="BrokerNode.AllocateProducerId"/>); Kafka does the same
/// for idempotent producers, even when a v3+ request names its current id. A transactional id goes to the
/// transaction coordinator (epoch bump, fencing, TRANSACTIONS.md). A full disk or an I/O error while taking a new id block: KAFKA_STORAGE_ERROR, and the broker
/// keeps serving. In a quorum a node without a block gets one from the controller (AllocateProducerIds, API 67) and
/// answers COORDINATOR_LOAD_IN_PROGRESS meanwhile.
/// </summary>
public sealed class InitProducerIdHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.InitProducerId;
    public override short MinVersion => 0;
    public override short MaxVersion => 4;

    public override void Handle(RequestContext request, ref KafkaReader body)
    {
        var init = InitProducerIdRequest.Read(ref body, request.Version);
        if (init.TransactionalId is not null)
        {
            Broker.Transactions.InitProducerId(request, init);
            return;
        }
        var response = new InitProducerIdResponse();
        response.ErrorCode = Broker.TryAllocateProducerId(out long id);
        if (response.ErrorCode == ErrorCode.None)
        {
            response.ProducerId = id;
            response.ProducerEpoch = 0;
        }
        request.Respond(response);
    }
}
