using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>DescribeTransactions (key 65), version 0: state, producer id and epoch, timeout, start time and
/// partitions of each named transactional id (TRANSACTIONAL_ID_NOT_FOUND for unknown ones).</summary>
public sealed class DescribeTransactionsHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.DescribeTransactions;
    public override short MinVersion => 0;
    public override short MaxVersion => 0;

    public override void Handle(RequestContext request, ref KafkaReader body)
    {
        var describe = DescribeTransactionsRequest.Read(ref body, request.Version);
        var response = new DescribeTransactionsResponse();
        foreach (var id in describe.TransactionalIds) response.TransactionStates.Add(Broker.Transactions.Describe(id));
        request.Respond(response);
    }
}
