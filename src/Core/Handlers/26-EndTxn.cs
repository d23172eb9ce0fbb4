using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>EndTxn (key 26), versions 0-5 (v5: the epoch bump of KIP-890 part 2): commits or aborts the producer's transaction. Answered once the
/// PrepareCommit/PrepareAbort record is durable; the markers follow (TRANSACTIONS.md).</summary>
public sealed class EndTxnHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.EndTxn;
    public override short MinVersion => 0;
    public override short MaxVersion => 5;

    public override void Handle(RequestContext request, ref KafkaReader body)
    {
        var end = EndTxnRequest.Read(ref body, request.Version);
        // Test-only planted bug: an abort is committed (src/Sim/Reach/PlantedBugs.cs).
        if (Broker.Config.TestOnlyEndTxnCommitsAborts) end.Committed = true;
        Broker.Transactions.EndTransaction(request, end);
    }
}
