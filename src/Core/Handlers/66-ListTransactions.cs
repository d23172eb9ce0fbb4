using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>ListTransactions (key 66), versions 0-1: the transactional ids this node coordinates, in id order,
/// filtered by state (unknown state names are echoed back), producer id and (v1) running time.</summary>
public sealed class ListTransactionsHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.ListTransactions;
    public override short MinVersion => 0;
    public override short MaxVersion => 1;

    public override void Handle(RequestContext request, ref KafkaReader body)
        => request.Respond(Broker.Transactions.List(ListTransactionsRequest.Read(ref body, request.Version)));
}
