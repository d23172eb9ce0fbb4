using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Transactions;
using Xunit;
using static DetKafka.Properties.Transactions.TransactionCoordinatorTests;

namespace DetKafka.Properties.Transactions;

/// <summary>Each test-only fault switch of the coordinator breaks exactly what the broker's tests check, so the
/// checks (and, later, the simulator's) are shown able to fail; the same scenario without the switch passes.</summary>
public sealed class TransactionFaultTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LsoIgnoresOpenTransactions_lets_read_committed_see_open_data(bool planted)
    {
        var h = TransactionCoordinatorTests.Broker();
        if (planted) h.Node.Transactions.Faults = TransactionFaults.LsoIgnoresOpenTransactions;
        var c = h.Connect();
        var p = Init(h, c, "tx");
        Add(h, c, "tx", p, 0);
        Produce(h, c, 0, p.ProducerId, p.ProducerEpoch, 0, true, "open");
        Assert.Equal(planted ? ["open"] : [], Visible(Fetch(h, c, 0, 0, readCommitted: true)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SkipAbortMarkers_makes_aborted_data_readable(bool planted)
    {
        var h = TransactionCoordinatorTests.Broker();
        if (planted) h.Node.Transactions.Faults = TransactionFaults.SkipAbortMarkers;
        var c = h.Connect();
        var p = Init(h, c, "tx");
        Add(h, c, "tx", p, 0);
        Produce(h, c, 0, p.ProducerId, p.ProducerEpoch, 0, true, "aborted");
        End(h, c, "tx", p.ProducerId, p.ProducerEpoch, commit: false);
        Settle(h);
        // Without its marker the transaction stays open, so the LSO never passes it: nothing after it is readable.
        Produce(h, c, 0, -1, -1, -1, false, "later");
        var f = Fetch(h, c, 0, 0, readCommitted: true);
        Assert.Equal(planted ? [] : ["later"], Visible(f));
        Assert.Equal(planted, f.LastStableOffset < f.HighWatermark);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SkipProduceVerification_accepts_a_late_produce_into_the_next_transaction(bool planted)
    {
        var h = TransactionCoordinatorTests.Broker();
        if (planted) h.Node.Transactions.Faults = TransactionFaults.SkipProduceVerification;
        var c = h.Connect();
        var p = Init(h, c, "tx");
        Add(h, c, "tx", p, 0);
        Produce(h, c, 0, p.ProducerId, p.ProducerEpoch, 0, true, "t1");
        End(h, c, "tx", p.ProducerId, p.ProducerEpoch, commit: false);
        Settle(h);
        var late = Produce(h, c, 0, p.ProducerId, p.ProducerEpoch, 1, true, "late");
        Assert.Equal(planted ? ErrorCode.None : ErrorCode.InvalidTxnState, late.ErrorCode);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ApplyPendingOffsetsOnAbort_commits_an_aborted_offset(bool planted)
    {
        var h = TransactionCoordinatorTests.Broker();
        if (planted) h.Node.Transactions.Faults = TransactionFaults.ApplyPendingOffsetsOnAbort;
        var c = h.Connect();
        var p = Init(h, c, "tx");
        Assert.Equal(ErrorCode.None, h.Call<AddOffsetsToTxnResponse>(c, ApiKey.AddOffsetsToTxn, 3,
            new AddOffsetsToTxnRequest { TransactionalId = "tx", ProducerId = p.ProducerId, ProducerEpoch = p.ProducerEpoch, GroupId = "g" }).ErrorCode);
        Assert.Equal(ErrorCode.None, h.Call<TxnOffsetCommitResponse>(c, ApiKey.TxnOffsetCommit, 3, new TxnOffsetCommitRequest
        {
            TransactionalId = "tx", GroupId = "g", ProducerId = p.ProducerId, ProducerEpoch = p.ProducerEpoch,
            Topics = [new() { Name = "t", Partitions = [new() { PartitionIndex = 0, CommittedOffset = 9 }] }],
        }).Topics[0].Partitions[0].ErrorCode);
        End(h, c, "tx", p.ProducerId, p.ProducerEpoch, commit: false);
        Settle(h);
        long committed = h.Call<OffsetFetchResponse>(c, ApiKey.OffsetFetch, 7, new OffsetFetchRequest
        {
            GroupId = "g", Topics = [new() { Name = "t", PartitionIndexes = [0] }],
        }).Topics[0].Partitions[0].CommittedOffset;
        Assert.Equal(planted ? 9 : -1, committed);
    }
}
