using DetKafka.Core.Broker;
using DetKafka.Core.Client;
using DetKafka.Core.Protocol;
using DetKafka.Properties.Client;
using Xunit;

namespace DetKafka.Properties.Transactions;

/// <summary>transactional.id.expiration.ms (TRANSACTIONS.md): an idle id is forgotten with a tombstone, an id with
/// a transaction in progress is not, and a forgotten id starts afresh with a new producer id.</summary>
public sealed class TransactionalIdExpirationTests
{
    [Fact]
    public void An_idle_transactional_id_expires_and_one_in_a_transaction_does_not()
    {
        var net = new Loopback(new BrokerConfig
        {
            NodeId = 1, AdvertisedHost = "broker", AdvertisedPort = 9092, DataDirectory = "data",
            TransactionalIdExpirationMs = 10_000, TransactionRemoveExpiredTransactionCleanupIntervalMs = 1_000,
        });
        net.CreateTopic("t", 1);
        var client = net.NewClient();
        var tp = new TopicPartition("t", 0);
        ErrorCode? Run(Action<Action<ErrorCode>> start)
        {
            ErrorCode? r = null;
            start(e => r = e);
            net.Run(500);
            return r;
        }
        var idle = new TransactionalProducer(client, new TransactionalProducerOptions { TransactionalId = "idle" });
        Assert.Equal(ErrorCode.None, Run(idle.InitTransactions));
        idle.BeginTransaction();
        idle.Send(tp, null, [1], net.Clock.WallClockMs);
        Assert.Equal(ErrorCode.None, Run(idle.CommitTransaction));
        long firstPid = idle.ProducerId;

        var busy = new TransactionalProducer(client, new TransactionalProducerOptions { TransactionalId = "busy", TransactionTimeoutMs = 600_000 });
        Assert.Equal(ErrorCode.None, Run(busy.InitTransactions));
        busy.BeginTransaction();
        busy.Send(tp, null, [2], net.Clock.WallClockMs);
        Assert.Equal(ErrorCode.None, Run(busy.Flush)); // Ongoing from here on

        net.Run(5_000);
        Assert.NotNull(net.Broker.Transactions.Find("idle"));
        net.Run(8_000);
        Assert.Null(net.Broker.Transactions.Find("idle"));
        Assert.Equal(1, net.Broker.Transactions.ExpiredTransactionalIds);
        Assert.Equal(Core.Transactions.TxnState.Ongoing, net.Broker.Transactions.Find("busy")?.State);

        var again = new TransactionalProducer(client, new TransactionalProducerOptions { TransactionalId = "idle" });
        Assert.Equal(ErrorCode.None, Run(again.InitTransactions));
        Assert.NotEqual(firstPid, again.ProducerId);
        Assert.Equal(0, again.ProducerEpoch);
    }
}
