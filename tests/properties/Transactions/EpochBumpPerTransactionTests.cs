using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Transactions;
using Xunit;
using static DetKafka.Properties.Transactions.TransactionCoordinatorTests;

namespace DetKafka.Properties.Transactions;

/// <summary>KIP-890 part 2 (TRANSACTIONS.md, "The epoch bump per transaction"): EndTxn v5 bumps the producer epoch,
/// the markers carry the bumped epoch, the answer names it, and a delayed EndTxn of transaction N cannot end
/// transaction N+1. Below v5 nothing changes.</summary>
public sealed class EpochBumpPerTransactionTests
{
    private const string TopicName = "t";

    private static InitProducerIdResponse Next(EndTxnResponse end) => new() { ProducerId = end.ProducerId, ProducerEpoch = end.ProducerEpoch };

    [Fact]
    public void EndTxn_v5_bumps_the_epoch_and_its_markers_carry_it()
    {
        var h = TransactionCoordinatorTests.Broker();
        var c = h.Connect();
        var p = Init(h, c, "tx");
        Assert.Equal(ErrorCode.None, Add(h, c, "tx", p, 0).Results[0].Results[0].ErrorCode);
        Assert.Equal(ErrorCode.None, Produce(h, c, 0, p.ProducerId, p.ProducerEpoch, 0, true, "n").ErrorCode);
        var end = End(h, c, "tx", p.ProducerId, p.ProducerEpoch, commit: true, version: 5);
        Assert.Equal(ErrorCode.None, end.ErrorCode);
        Assert.Equal(p.ProducerId, end.ProducerId);
        Assert.Equal((short)(p.ProducerEpoch + 1), end.ProducerEpoch);
        Settle(h);
        Assert.Equal(end.ProducerEpoch, h.Node.FindLog(TopicName, 0)!.Producers.EpochOf(p.ProducerId)); // the marker's epoch
        // The next transaction runs at the new epoch, its sequences from 0 again, on a partition with and without a marker.
        var q = Next(end);
        Assert.Equal(ErrorCode.None, Add(h, c, "tx", q, 0, 1).Results[0].Results[0].ErrorCode);
        Assert.Equal(ErrorCode.None, Produce(h, c, 0, q.ProducerId, q.ProducerEpoch, 0, true, "n+1 a").ErrorCode);
        Assert.Equal(ErrorCode.None, Produce(h, c, 1, q.ProducerId, q.ProducerEpoch, 0, true, "n+1 b").ErrorCode);
        var end2 = End(h, c, "tx", q.ProducerId, q.ProducerEpoch, commit: true, version: 5);
        Assert.Equal(ErrorCode.None, end2.ErrorCode);
        Assert.Equal((short)(q.ProducerEpoch + 1), end2.ProducerEpoch);
        Settle(h);
        Assert.Equal(["n", "n+1 a"], Visible(Fetch(h, c, 0, 0, readCommitted: true)));
        Assert.Equal(["n+1 b"], Visible(Fetch(h, c, 1, 0, readCommitted: true)));
    }

    [Fact]
    public void A_delayed_EndTxn_of_transaction_N_is_fenced_in_transaction_N_plus_1()
    {
        var h = TransactionCoordinatorTests.Broker();
        var c = h.Connect();
        var p = Init(h, c, "tx");
        Add(h, c, "tx", p, 0);
        Produce(h, c, 0, p.ProducerId, p.ProducerEpoch, 0, true, "n");
        var end = End(h, c, "tx", p.ProducerId, p.ProducerEpoch, commit: true, version: 5);
        Assert.Equal(ErrorCode.None, end.ErrorCode);
        Settle(h);
        // Transaction N+1 writes, then means to abort; N's EndTxn(commit) arrives late, at N's epoch.
        var q = Next(end);
        Add(h, c, "tx", q, 0);
        Assert.Equal(ErrorCode.None, Produce(h, c, 0, q.ProducerId, q.ProducerEpoch, 0, true, "n+1").ErrorCode);
        var stale = End(h, c, "tx", p.ProducerId, p.ProducerEpoch, commit: true, version: 5);
        Assert.Equal(ErrorCode.ProducerFenced, stale.ErrorCode);
        Assert.Equal(-1, stale.ProducerId);
        Assert.Equal(TxnState.Ongoing, h.Node.Transactions.Find("tx")!.State);
        Assert.Equal(ErrorCode.None, End(h, c, "tx", q.ProducerId, q.ProducerEpoch, commit: false, version: 5).ErrorCode);
        Settle(h);
        Assert.Equal(["n"], Visible(Fetch(h, c, 0, 0, readCommitted: true)));
    }

    [Fact]
    public void Without_the_bump_the_delayed_EndTxn_commits_the_next_transaction()
    {
        // What KIP-890 part 2 closes, shown twice: a client below v5, and the planted bug that serves v5 as v4.
        foreach (var (version, fault) in new[] { ((short)3, TransactionFaults.None), ((short)5, TransactionFaults.SkipEndTxnEpochBump) })
        {
            var h = TransactionCoordinatorTests.Broker();
            h.Node.Transactions.Faults = fault;
            var c = h.Connect();
            var p = Init(h, c, "tx");
            Add(h, c, "tx", p, 0);
            Produce(h, c, 0, p.ProducerId, p.ProducerEpoch, 0, true, "n");
            var end = End(h, c, "tx", p.ProducerId, p.ProducerEpoch, commit: true, version: version);
            Assert.Equal(ErrorCode.None, end.ErrorCode);
            if (version >= 5) Assert.Equal(p.ProducerEpoch, end.ProducerEpoch);
            Settle(h);
            Add(h, c, "tx", p, 0);
            Produce(h, c, 0, p.ProducerId, p.ProducerEpoch, 1, true, "n+1");
            Assert.Equal(ErrorCode.None, End(h, c, "tx", p.ProducerId, p.ProducerEpoch, commit: true, version: version).ErrorCode); // the stale one
            Settle(h);
            Assert.Equal(ErrorCode.InvalidTxnState, End(h, c, "tx", p.ProducerId, p.ProducerEpoch, commit: false, version: version).ErrorCode);
            Assert.Equal(["n", "n+1"], Visible(Fetch(h, c, 0, 0, readCommitted: true)));
        }
    }

    [Fact]
    public void A_retried_EndTxn_v5_is_answered_again_with_the_bumped_epoch()
    {
        var h = TransactionCoordinatorTests.Broker();
        var c = h.Connect();
        var p = Init(h, c, "tx");
        Add(h, c, "tx", p, 0);
        var end = End(h, c, "tx", p.ProducerId, p.ProducerEpoch, commit: false, version: 5);
        Assert.Equal(ErrorCode.None, end.ErrorCode);
        // Before the markers are written: the retry waits (CONCURRENT_TRANSACTIONS), as in Kafka.
        if (h.Node.Transactions.Find("tx")!.State == TxnState.PrepareAbort)
            Assert.Equal(ErrorCode.ConcurrentTransactions, End(h, c, "tx", p.ProducerId, p.ProducerEpoch, commit: false, version: 5).ErrorCode);
        Settle(h);
        var retry = End(h, c, "tx", p.ProducerId, p.ProducerEpoch, commit: false, version: 5);
        Assert.Equal(ErrorCode.None, retry.ErrorCode);
        Assert.Equal((end.ProducerId, end.ProducerEpoch), (retry.ProducerId, retry.ProducerEpoch));
        Assert.Equal(ErrorCode.InvalidTxnState, End(h, c, "tx", p.ProducerId, p.ProducerEpoch, commit: true, version: 5).ErrorCode);
        // Two epochs back is not a retry; nor is an EndTxn at the current epoch with nothing open (Kafka answers
        // PRODUCER_FENCED there too: for an id that bumps, only the epoch before the bump may find it complete).
        Assert.Equal(ErrorCode.ProducerFenced, End(h, c, "tx", p.ProducerId, (short)(p.ProducerEpoch - 1), commit: false, version: 5).ErrorCode);
        Assert.Equal(ErrorCode.ProducerFenced, End(h, c, "tx", end.ProducerId, end.ProducerEpoch, commit: true, version: 5).ErrorCode);
        // The retry rule survives a restart: the state record says the id bumps per transaction (value version 1).
        h.CrashAndRestart();
        var c2 = h.Connect();
        Settle(h);
        Assert.Equal(2, h.Node.Transactions.Find("tx")!.ClientTransactionVersion);
        var again = End(h, c2, "tx", p.ProducerId, p.ProducerEpoch, commit: false, version: 5);
        Assert.Equal(ErrorCode.None, again.ErrorCode);
        Assert.Equal(end.ProducerEpoch, again.ProducerEpoch);
    }

    [Fact]
    public void An_exhausted_epoch_moves_the_id_to_a_new_producer_id()
    {
        var h = TransactionCoordinatorTests.Broker();
        var c = h.Connect();
        var p = Init(h, c, "tx");
        var txn = h.Node.Transactions.Find("tx")!;
        txn.ProducerEpoch = short.MaxValue - 1; // as if it had run 32766 transactions
        var old = new InitProducerIdResponse { ProducerId = p.ProducerId, ProducerEpoch = txn.ProducerEpoch };
        Add(h, c, "tx", old, 0);
        Assert.Equal(ErrorCode.None, Produce(h, c, 0, old.ProducerId, old.ProducerEpoch, 0, true, "last").ErrorCode);
        var end = End(h, c, "tx", old.ProducerId, old.ProducerEpoch, commit: true, version: 5);
        Assert.Equal(ErrorCode.None, end.ErrorCode);
        Assert.NotEqual(p.ProducerId, end.ProducerId);
        Assert.Equal((short)0, end.ProducerEpoch);
        Settle(h);
        Assert.Equal(short.MaxValue, h.Node.FindLog(TopicName, 0)!.Producers.EpochOf(p.ProducerId)); // the markers' epoch
        Assert.Equal((end.ProducerId, (short)0, p.ProducerId), (txn.ProducerId, txn.ProducerEpoch, txn.PreviousProducerId));
        // A retry names the old id at the old epoch and gets the new one; the next transaction runs under it.
        var retry = End(h, c, "tx", old.ProducerId, old.ProducerEpoch, commit: true, version: 5);
        Assert.Equal((ErrorCode.None, end.ProducerId, (short)0), (retry.ErrorCode, retry.ProducerId, retry.ProducerEpoch));
        var q = Next(end);
        Assert.Equal(ErrorCode.None, Add(h, c, "tx", q, 1).Results[0].Results[0].ErrorCode);
        Assert.Equal(ErrorCode.None, Produce(h, c, 1, q.ProducerId, q.ProducerEpoch, 0, true, "first").ErrorCode);
        Assert.Equal(ErrorCode.None, End(h, c, "tx", q.ProducerId, q.ProducerEpoch, commit: true, version: 5).ErrorCode);
        Settle(h);
        Assert.Equal(["last"], Visible(Fetch(h, c, 0, 0, readCommitted: true)));
        Assert.Equal(["first"], Visible(Fetch(h, c, 1, 0, readCommitted: true)));
    }

    [Fact]
    public void State_records_round_trip_at_both_value_versions()
    {
        var plain = new TxnRecord(7, 3, 60_000, TxnState.CompleteCommit, [], 10, 5);
        Assert.Equal(0, System.Buffers.Binary.BinaryPrimitives.ReadInt16BigEndian(TransactionRecords.Value(plain)));
        var bumped = new TxnRecord(7, 4, 60_000, TxnState.PrepareCommit,
            [new TopicPartition("a", 0), new TopicPartition("a", 2), new TopicPartition("b", 1)], 10, 5, PreviousProducerId: 3, NextProducerId: 9, ClientTransactionVersion: 2);
        var bytes = TransactionRecords.Value(bumped);
        Assert.Equal(1, System.Buffers.Binary.BinaryPrimitives.ReadInt16BigEndian(bytes));
        var read = TransactionRecords.ReadValue(bytes);
        Assert.Equal(bumped with { Partitions = [] }, read with { Partitions = [] });
        Assert.Equal(bumped.Partitions, read.Partitions);
        var readPlain = TransactionRecords.ReadValue(TransactionRecords.Value(plain));
        Assert.Equal(plain with { Partitions = [] }, readPlain with { Partitions = [] });
    }
}
