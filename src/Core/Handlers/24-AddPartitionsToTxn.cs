using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>AddPartitionsToTxn (key 24), versions 0-3 (the clients' versions; 4+ are broker-to-broker): adds
/// partitions to the producer's transaction, answered once the coordinator's record is durable. An unknown
/// partition fails the request (UNKNOWN_TOPIC_OR_PARTITION, the rest OPERATION_NOT_ATTEMPTED).</summary>
public sealed class AddPartitionsToTxnHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.AddPartitionsToTxn;
    public override short MinVersion => 0;
    public override short MaxVersion => 3;

    public override void Handle(RequestContext request, ref KafkaReader body)
        => Broker.Transactions.AddPartitions(request, AddPartitionsToTxnRequest.Read(ref body, request.Version));
}
