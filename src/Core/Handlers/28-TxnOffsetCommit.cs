using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>TxnOffsetCommit (key 28), versions 0-3: a group's offsets written inside a transaction, visible
/// to OffsetFetch only once the commit marker reaches __consumer_offsets, dropped on abort (GROUPS.md,
/// TRANSACTIONS.md).</summary>
public sealed class TxnOffsetCommitHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.TxnOffsetCommit;
    public override short MinVersion => 0;
    public override short MaxVersion => 3;

    public override void Handle(RequestContext request, ref KafkaReader body)
        => Broker.Groups.TxnCommit(request, TxnOffsetCommitRequest.Read(ref body, request.Version));
}
