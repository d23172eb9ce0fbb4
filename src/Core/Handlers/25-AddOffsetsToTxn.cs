using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>AddOffsetsToTxn (key 25), versions 0-3: adds the group's partition of __consumer_offsets to the
/// producer's transaction, so a following TxnOffsetCommit commits or aborts with it.</summary>
public sealed class AddOffsetsToTxnHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.AddOffsetsToTxn;
    public override short MinVersion => 0;
    public override short MaxVersion => 3;

    public override void Handle(RequestContext request, ref KafkaReader body)
        => Broker.Transactions.AddOffsets(request, AddOffsetsToTxnRequest.Read(ref body, request.Version));
}
