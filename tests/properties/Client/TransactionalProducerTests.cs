using System.Buffers.Binary;
using DetKafka.Core.Client;
using DetKafka.Core.Protocol;
using Xunit;

namespace DetKafka.Properties.Client;

/// <summary>The client's transactional producer and read_committed consumer against one in-process broker
/// (TRANSACTIONS.md, "Clients"): commits are read, aborts are not, markers are never records, a fenced instance
/// can commit nothing, offsets sent in a transaction apply only when it commits.</summary>
public sealed class TransactionalProducerTests
{
    private static readonly TopicPartition T0 = new("t", 0), T1 = new("t", 1);

    private static ErrorCode Await(Loopback net, Action<Action<ErrorCode>> start)
    {
        ErrorCode? result = null;
        start(e => result = e);
        for (int i = 0; i < 50 && result is null; i++) net.Run(100);
        Assert.True(result is not null, "the operation finished");
        return result!.Value;
    }

    private static List<long> ReadAll(Loopback net, KafkaClient client, sbyte isolation)
    {
        var consumer = new Consumer(client, new ConsumerOptions { FetchMaxWaitMs = 5, IsolationLevel = isolation });
        consumer.Assign([T0, T1], new Dictionary<TopicPartition, long> { [T0] = 0, [T1] = 0 });
        net.Run(400);
        var values = consumer.TakeRecords(10_000).Select(r =>
        {
            Assert.Equal(8, r.Value?.Length ?? 0); // a marker's control record is never handed out as a record
            return BinaryPrimitives.ReadInt64BigEndian(r.Value);
        }).ToList();
        consumer.Assign([]);
        return values;
    }

    private static void SendAll(TransactionalProducer p, Loopback net, params (TopicPartition Tp, long Value)[] records)
    {
        foreach (var (tp, v) in records) Assert.True(p.Send(tp, null, Loopback.Long(v), net.Clock.WallClockMs));
    }

    [Fact]
    public void Committed_transactions_are_read_and_markers_are_never_records()
    {
        var net = new Loopback();
        net.CreateTopic("t", 2);
        var client = net.NewClient();
        var p = new TransactionalProducer(client, new TransactionalProducerOptions { TransactionalId = "tx" });
        Assert.Equal(ErrorCode.None, Await(net, p.InitTransactions));
        p.BeginTransaction();
        SendAll(p, net, (T0, 1), (T0, 2), (T1, 3));
        Assert.Equal(ErrorCode.None, Await(net, p.CommitTransaction));
        p.BeginTransaction();
        SendAll(p, net, (T0, 4), (T1, 5));
        Assert.Equal(ErrorCode.None, Await(net, p.CommitTransaction));
        p.BeginTransaction();
        SendAll(p, net, (T0, 6), (T1, 7));
        Assert.Equal(ErrorCode.None, Await(net, p.AbortTransaction)); // never sent: nothing reaches the log
        p.BeginTransaction();
        SendAll(p, net, (T0, 8));
        Assert.Equal(ErrorCode.None, Await(net, p.Flush)); // in the log, then aborted
        Assert.Equal(ErrorCode.None, Await(net, p.AbortTransaction));
        p.BeginTransaction();
        SendAll(p, net, (T1, 9), (T0, 10));
        Assert.Equal(ErrorCode.None, Await(net, p.CommitTransaction));
        Assert.Equal(new long[] { 1, 2, 3, 4, 5, 9, 10 }, ReadAll(net, client, isolation: 1).Order());
        Assert.Equal(new long[] { 1, 2, 3, 4, 5, 8, 9, 10 }, ReadAll(net, client, isolation: 0).Order());
        // t-0: 1-2, commit, 4, commit, 8, abort, 10, commit: the consumers skipped four markers.
        Assert.Equal(9, net.Broker.FindLog("t", 0)!.LogEndOffset);
    }

    [Fact]
    public void Each_transaction_ends_with_an_epoch_bump_and_the_next_runs_under_it()
    {
        // KIP-890 part 2: the client sends EndTxn v5; the answer's epoch (one more per ended transaction, commit or
        // abort) is the next transaction's, and the sequences restart at 0 under it (the produces are accepted).
        var net = new Loopback();
        net.CreateTopic("t", 2);
        var client = net.NewClient();
        var p = new TransactionalProducer(client, new TransactionalProducerOptions { TransactionalId = "tx" });
        Assert.Equal(ErrorCode.None, Await(net, p.InitTransactions));
        short epoch = p.ProducerEpoch;
        long pid = p.ProducerId;
        for (int i = 0; i < 4; i++)
        {
            p.BeginTransaction();
            SendAll(p, net, (T0, 10 * i), (T1, 10 * i + 1));
            if (i == 2)
            {
                Assert.Equal(ErrorCode.None, Await(net, p.Flush));
                Assert.Equal(ErrorCode.None, Await(net, p.AbortTransaction));
            }
            else Assert.Equal(ErrorCode.None, Await(net, p.CommitTransaction));
            Assert.Equal((pid, (short)(epoch + i + 1)), (p.ProducerId, p.ProducerEpoch));
            Assert.Equal(p.ProducerEpoch, net.Broker.Transactions.Find("tx")!.ProducerEpoch);
        }
        // A commit of a transaction that reached no coordinator ends locally, with no EndTxn and no bump.
        p.BeginTransaction();
        Assert.Equal(ErrorCode.None, Await(net, p.CommitTransaction));
        Assert.Equal((short)(epoch + 4), p.ProducerEpoch);
        Assert.Equal(new long[] { 0, 1, 10, 11, 30, 31 }, ReadAll(net, client, isolation: 1).Order());
    }

    [Fact]
    public void A_fenced_instance_cannot_commit()
    {
        var net = new Loopback();
        net.CreateTopic("t", 2);
        var client = net.NewClient();
        var p = new TransactionalProducer(client, new TransactionalProducerOptions { TransactionalId = "tx" });
        Assert.Equal(ErrorCode.None, Await(net, p.InitTransactions));
        p.BeginTransaction();
        SendAll(p, net, (T0, 1));
        Assert.Equal(ErrorCode.None, Await(net, p.CommitTransaction));
        // A second instance fences the first while the first has a transaction written but not ended.
        var zombie = p;
        zombie.BeginTransaction();
        SendAll(zombie, net, (T0, 2), (T1, 3));
        var fresh = new TransactionalProducer(client, new TransactionalProducerOptions { TransactionalId = "tx" });
        Assert.Equal(ErrorCode.None, Await(net, fresh.InitTransactions));
        var error = Await(net, zombie.CommitTransaction);
        Assert.True(error is ErrorCode.ProducerFenced or ErrorCode.InvalidProducerEpoch, $"the zombie's commit got {error}");
        Assert.Equal(TransactionalProducerState.Fenced, zombie.State);
        fresh.BeginTransaction();
        SendAll(fresh, net, (T1, 4));
        Assert.Equal(ErrorCode.None, Await(net, fresh.CommitTransaction));
        Assert.Equal(new long[] { 1, 4 }, ReadAll(net, client, isolation: 1));
    }

    [Fact]
    public void A_zombie_whose_records_were_written_is_fenced_and_its_records_stay_invisible()
    {
        var net = new Loopback();
        net.CreateTopic("t", 2);
        var client = net.NewClient();
        var zombie = new TransactionalProducer(client, new TransactionalProducerOptions { TransactionalId = "tx" });
        Assert.Equal(ErrorCode.None, Await(net, zombie.InitTransactions));
        // The zombie writes its records (Flush: AddPartitionsToTxn, Produce); a new instance then initialises,
        // fencing it and aborting the written transaction; the zombie's commit is refused.
        var fresh = new TransactionalProducer(client, new TransactionalProducerOptions { TransactionalId = "tx" });
        zombie.BeginTransaction();
        SendAll(zombie, net, (T0, 1), (T1, 2));
        Assert.Equal(ErrorCode.None, Await(net, zombie.Flush));
        Assert.Equal(ErrorCode.None, Await(net, fresh.InitTransactions));
        var error = Await(net, zombie.CommitTransaction);
        Assert.True(error is ErrorCode.ProducerFenced or ErrorCode.InvalidProducerEpoch, $"the zombie's commit got {error}");
        Assert.Equal(TransactionalProducerState.Fenced, zombie.State);
        Assert.Empty(ReadAll(net, client, isolation: 1));
        Assert.Equal(new long[] { 1, 2 }, ReadAll(net, client, isolation: 0).Order());
    }

    [Fact]
    public void Offsets_sent_in_a_transaction_apply_only_when_it_commits()
    {
        var net = new Loopback();
        net.CreateTopic("t", 2);
        var client = net.NewClient();
        var p = new TransactionalProducer(client, new TransactionalProducerOptions { TransactionalId = "tx" });
        Assert.Equal(ErrorCode.None, Await(net, p.InitTransactions));
        long Committed()
        {
            var (error, topics) = net.Broker.Groups.FetchOffsets("g", [("t", (IReadOnlyList<int>)[0])]);
            Assert.Equal(ErrorCode.None, error);
            return topics[0].Partitions[0].Offset?.Offset ?? -1;
        }
        p.BeginTransaction();
        SendAll(p, net, (T1, 1));
        p.SendOffsetsToTransaction("g", new Dictionary<TopicPartition, long> { [T0] = 7 });
        Assert.Equal(ErrorCode.None, Await(net, p.CommitTransaction));
        net.Run(100);
        Assert.Equal(7, Committed());
        p.BeginTransaction();
        SendAll(p, net, (T1, 2));
        p.SendOffsetsToTransaction("g", new Dictionary<TopicPartition, long> { [T0] = 9 });
        Assert.Equal(ErrorCode.None, Await(net, p.AbortTransaction));
        net.Run(100);
        Assert.Equal(7, Committed());
        p.BeginTransaction();
        p.SendOffsetsToTransaction("g", new Dictionary<TopicPartition, long> { [T0] = 11 }); // offsets only
        Assert.Equal(ErrorCode.None, Await(net, p.CommitTransaction));
        net.Run(100);
        Assert.Equal(11, Committed());
    }
}
