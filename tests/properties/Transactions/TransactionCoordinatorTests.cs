using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Groups;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Records;
using DetKafka.Core.Transactions;
using DetKafka.Properties.Broker;
using Xunit;

namespace DetKafka.Properties.Transactions;

/// <summary>The transaction coordinator and read_committed, driven through real request frames (BrokerHarness).</summary>
public sealed class TransactionCoordinatorTests
{
    private const string Topic = "t";

    internal static BrokerHarness Broker()
    {
        var h = new BrokerHarness(new BrokerConfig
        {
            NodeId = 1,
            DataDirectory = "data",
            OffsetsTopicNumPartitions = 3,
            TransactionStateLogNumPartitions = 3,
            TransactionAbortTimedOutTransactionCleanupIntervalMs = 1000,
        });
        var (error, _) = h.Node.CreateTopic(Topic, 2, [], validateOnly: false, out _);
        Assert.Equal(ErrorCode.None, error);
        return h;
    }

    internal static InitProducerIdResponse Init(BrokerHarness h, ConnectionId c, string id, short version = 4, long pid = -1, short epoch = -1, int timeoutMs = 60_000)
        => h.Call<InitProducerIdResponse>(c, ApiKey.InitProducerId, version, new InitProducerIdRequest
        {
            TransactionalId = id, TransactionTimeoutMs = timeoutMs, ProducerId = pid, ProducerEpoch = epoch,
        });

    /// <summary>InitProducerId, retried while the coordinator answers CONCURRENT_TRANSACTIONS (as clients do).</summary>
    private static InitProducerIdResponse InitRetrying(BrokerHarness h, ConnectionId c, string id)
    {
        for (int i = 0; i < 50; i++)
        {
            var r = Init(h, c, id);
            if (r.ErrorCode != ErrorCode.ConcurrentTransactions) return r;
            h.CompleteSyncs();
            h.AdvanceTime(20);
        }
        throw new InvalidOperationException("InitProducerId kept answering CONCURRENT_TRANSACTIONS");
    }

    internal static AddPartitionsToTxnResponse Add(BrokerHarness h, ConnectionId c, string id, InitProducerIdResponse p, params int[] partitions)
        => h.Call<AddPartitionsToTxnResponse>(c, ApiKey.AddPartitionsToTxn, 3, new AddPartitionsToTxnRequest
        {
            TransactionalId = id, ProducerId = p.ProducerId, ProducerEpoch = p.ProducerEpoch,
            Topics = [new() { Name = Topic, Partitions = partitions.ToList() }],
        });

    internal static ProduceResponse.PartitionProduceResponse Produce(BrokerHarness h, ConnectionId c, int partition, long pid, short epoch, int sequence, bool transactional, params string[] values)
    {
        var records = values.Select(v => new SimpleRecord(null, System.Text.Encoding.UTF8.GetBytes(v), h.Clock.WallClockMs)).ToList();
        var batch = RecordBatchBuilder.Build(records, producerId: pid, producerEpoch: epoch, baseSequence: sequence, isTransactional: transactional);
        var r = h.Call<ProduceResponse>(c, ApiKey.Produce, 8, new ProduceRequest
        {
            TransactionalId = transactional ? "x" : null, Acks = -1, TimeoutMs = 5000,
            TopicData = [new() { Name = Topic, PartitionData = [new() { Index = partition, Records = batch }] }],
        });
        return r.Responses[0].PartitionResponses[0];
    }

    internal static EndTxnResponse End(BrokerHarness h, ConnectionId c, string id, long pid, short epoch, bool commit, short version = 3)
        => h.Call<EndTxnResponse>(c, ApiKey.EndTxn, version, new EndTxnRequest { TransactionalId = id, ProducerId = pid, ProducerEpoch = epoch, Committed = commit });

    /// <summary>Lets the markers and completion records become durable.</summary>
    internal static void Settle(BrokerHarness h)
    {
        for (int i = 0; i < 20; i++)
        {
            h.CompleteSyncs();
            h.AdvanceTime(1);
        }
    }

    internal static FetchResponse.PartitionData Fetch(BrokerHarness h, ConnectionId c, int partition, long offset, bool readCommitted)
    {
        var r = h.Call<FetchResponse>(c, ApiKey.Fetch, 11, new FetchRequest
        {
            MaxWaitMs = 0, MinBytes = 0, IsolationLevel = (sbyte)(readCommitted ? 1 : 0),
            Topics = [new() { Topic = Topic, Partitions = [new() { Partition = partition, FetchOffset = offset, PartitionMaxBytes = 1 << 20 }] }],
        });
        return r.Responses[0].Partitions[0];
    }

    /// <summary>What a read_committed consumer makes of a fetch: data records not in an aborted transaction.</summary>
    internal static List<string> Visible(FetchResponse.PartitionData p)
    {
        var result = new List<string>();
        var aborted = (p.AbortedTransactions ?? []).ToList();
        var abortedOpen = new HashSet<long>();
        var bytes = p.Records?.ToArray() ?? [];
        int pos = 0;
        while (pos < bytes.Length)
        {
            Assert.True(RecordBatchHeader.TryRead(bytes.AsSpan(pos), out var header));
            var batch = bytes.AsSpan(pos, (int)header.TotalSize);
            foreach (var a in aborted.Where(a => a.FirstOffset <= header.BaseOffset).ToList())
            {
                abortedOpen.Add(a.ProducerId);
                aborted.Remove(a);
            }
            if (header.IsControl)
            {
                Assert.True(ControlRecord.TryReadMarker(batch, out bool commit, out _));
                if (!commit) abortedOpen.Remove(header.ProducerId);
            }
            else if (!(header.IsTransactional && abortedOpen.Contains(header.ProducerId)))
            {
                var decoded = new List<DecodedRecord>();
                Assert.Equal(ErrorCode.None, RecordBatchDecoder.Decode(batch, decoded));
                result.AddRange(decoded.Select(d => System.Text.Encoding.UTF8.GetString(d.Value!)));
            }
            pos += (int)header.TotalSize;
        }
        return result;
    }

    [Fact]
    public void Commit_and_abort_are_seen_by_read_committed_exactly()
    {
        var h = Broker();
        var c = h.Connect();
        var find = h.Call<FindCoordinatorResponse>(c, ApiKey.FindCoordinator, 3, new FindCoordinatorRequest { Key = "tx", KeyType = 1 });
        Assert.Equal(ErrorCode.None, find.ErrorCode);
        Assert.Equal(1, find.NodeId);
        var p = Init(h, c, "tx");
        Assert.Equal(ErrorCode.None, p.ErrorCode);
        Assert.Equal(0, p.ProducerEpoch);

        // Transaction 1 commits a, b; transaction 2 aborts c; a plain write d lands between.
        Assert.All(Add(h, c, "tx", p, 0).Results[0].Results, r => Assert.Equal(ErrorCode.None, r.ErrorCode));
        Assert.Equal(ErrorCode.None, Produce(h, c, 0, p.ProducerId, p.ProducerEpoch, 0, true, "a", "b").ErrorCode);
        // Open transaction: the LSO stays at its first offset.
        var open = Fetch(h, c, 0, 0, readCommitted: true);
        Assert.Equal(0, open.LastStableOffset);
        Assert.Equal(2, open.HighWatermark);
        Assert.Empty(Visible(open));
        Assert.Equal(ErrorCode.None, End(h, c, "tx", p.ProducerId, p.ProducerEpoch, commit: true).ErrorCode);
        Settle(h);
        Assert.Equal(ErrorCode.None, Add(h, c, "tx", p, 0).Results[0].Results[0].ErrorCode);
        Assert.Equal(ErrorCode.None, Produce(h, c, 0, p.ProducerId, p.ProducerEpoch, 2, true, "c").ErrorCode);
        Assert.Equal(ErrorCode.None, Produce(h, c, 0, -1, -1, -1, false, "d").ErrorCode);
        Assert.Equal(ErrorCode.None, End(h, c, "tx", p.ProducerId, p.ProducerEpoch, commit: false).ErrorCode);
        Settle(h);

        var committed = Fetch(h, c, 0, 0, readCommitted: true);
        Assert.Equal(committed.HighWatermark, committed.LastStableOffset);
        Assert.Equal(6, committed.HighWatermark); // a b C c d A: markers take offsets
        Assert.Equal(["a", "b", "d"], Visible(committed));
        var aborted = Assert.Single(committed.AbortedTransactions!);
        Assert.Equal(p.ProducerId, aborted.ProducerId);
        Assert.Equal(3, aborted.FirstOffset);
        // read_uncommitted sees all data records, markers aside.
        var all = Fetch(h, c, 0, 0, readCommitted: false);
        Assert.Null(all.AbortedTransactions);

        var describe = h.Call<DescribeTransactionsResponse>(c, ApiKey.DescribeTransactions, 0, new DescribeTransactionsRequest { TransactionalIds = ["tx", "nope"] });
        Assert.Equal("CompleteAbort", describe.TransactionStates[0].State);
        Assert.Equal(ErrorCode.TransactionalIdNotFound, describe.TransactionStates[1].ErrorCode);
        var list = h.Call<ListTransactionsResponse>(c, ApiKey.ListTransactions, 1, new ListTransactionsRequest { StateFilters = ["CompleteAbort", "Bogus"] });
        Assert.Equal("tx", Assert.Single(list.TransactionStates).TransactionalId);
        Assert.Equal(["Bogus"], list.UnknownStateFilters);
    }

    [Fact]
    public void ListOffsets_latest_under_read_committed_is_the_lso()
    {
        var h = Broker();
        var c = h.Connect();
        var p = Init(h, c, "tx");
        Assert.Equal(ErrorCode.None, Produce(h, c, 1, -1, -1, -1, false, "x").ErrorCode);
        Add(h, c, "tx", p, 1);
        Assert.Equal(ErrorCode.None, Produce(h, c, 1, p.ProducerId, p.ProducerEpoch, 0, true, "y").ErrorCode);
        long Latest(sbyte isolation) => h.Call<ListOffsetsResponse>(c, ApiKey.ListOffsets, 5, new ListOffsetsRequest
        {
            IsolationLevel = isolation,
            Topics = [new() { Name = Topic, Partitions = [new() { PartitionIndex = 1, Timestamp = -1 }] }],
        }).Topics[0].Partitions[0].Offset;
        Assert.Equal(1, Latest(1));
        Assert.Equal(2, Latest(0));
    }

    [Fact]
    public void A_second_instance_fences_the_first_and_aborts_its_open_transaction()
    {
        var h = Broker();
        var c = h.Connect();
        var zombie = Init(h, c, "tx");
        Add(h, c, "tx", zombie, 0);
        Assert.Equal(ErrorCode.None, Produce(h, c, 0, zombie.ProducerId, zombie.ProducerEpoch, 0, true, "zombie").ErrorCode);

        var fresh = InitRetrying(h, c, "tx");
        Assert.Equal(ErrorCode.None, fresh.ErrorCode);
        Assert.Equal(zombie.ProducerId, fresh.ProducerId);
        Assert.True(fresh.ProducerEpoch > zombie.ProducerEpoch);
        Settle(h);

        // The zombie can neither commit, nor add partitions, nor write.
        Assert.Equal(ErrorCode.ProducerFenced, End(h, c, "tx", zombie.ProducerId, zombie.ProducerEpoch, commit: true).ErrorCode);
        Assert.Equal(ErrorCode.InvalidProducerEpoch, End(h, c, "tx", zombie.ProducerId, zombie.ProducerEpoch, commit: true, version: 1).ErrorCode);
        Assert.Equal(ErrorCode.ProducerFenced, Add(h, c, "tx", zombie, 0).Results[0].Results[0].ErrorCode);
        Assert.NotEqual(ErrorCode.None, Produce(h, c, 0, zombie.ProducerId, zombie.ProducerEpoch, 1, true, "late").ErrorCode);
        // Its open transaction was aborted: nothing of it is visible.
        var f = Fetch(h, c, 0, 0, readCommitted: true);
        Assert.Empty(Visible(f));
        Assert.Equal(f.HighWatermark, f.LastStableOffset);
    }

    [Fact]
    public void A_produce_to_a_partition_not_in_the_transaction_or_after_it_ended_is_refused()
    {
        var h = Broker();
        var c = h.Connect();
        var p = Init(h, c, "tx");
        // Never added.
        Assert.Equal(ErrorCode.InvalidTxnState, Produce(h, c, 0, p.ProducerId, p.ProducerEpoch, 0, true, "x").ErrorCode);
        Add(h, c, "tx", p, 0);
        Assert.Equal(ErrorCode.None, Produce(h, c, 0, p.ProducerId, p.ProducerEpoch, 0, true, "x").ErrorCode);
        // Partition 1 is not in this transaction.
        Assert.Equal(ErrorCode.InvalidTxnState, Produce(h, c, 1, p.ProducerId, p.ProducerEpoch, 0, true, "y").ErrorCode);
        Assert.Equal(ErrorCode.None, End(h, c, "tx", p.ProducerId, p.ProducerEpoch, commit: true).ErrorCode);
        Settle(h);
        // A late produce of the finished transaction cannot join the next one.
        Assert.Equal(ErrorCode.InvalidTxnState, Produce(h, c, 0, p.ProducerId, p.ProducerEpoch, 1, true, "late").ErrorCode);
        Assert.Equal(["x"], Visible(Fetch(h, c, 0, 0, readCommitted: true)));
    }

    [Fact]
    public void Markers_from_a_stale_coordinator_epoch_are_refused()
    {
        var h = Broker();
        var c = h.Connect();
        var p = Init(h, c, "tx");
        Add(h, c, "tx", p, 0);
        Produce(h, c, 0, p.ProducerId, p.ProducerEpoch, 0, true, "x");
        End(h, c, "tx", p.ProducerId, p.ProducerEpoch, commit: true);
        Settle(h);
        int epoch = h.Node.Transactions.CoordinatorEpoch;
        WriteTxnMarkersResponse Marker(int coordinatorEpoch) => h.Call<WriteTxnMarkersResponse>(c, ApiKey.WriteTxnMarkers, 1, new WriteTxnMarkersRequest
        {
            Markers = [new() { ProducerId = p.ProducerId, ProducerEpoch = p.ProducerEpoch, TransactionResult = false, CoordinatorEpoch = coordinatorEpoch,
                Topics = [new() { Name = Topic, PartitionIndexes = [0] }] }],
        });
        Assert.Equal(ErrorCode.TransactionCoordinatorFenced, Marker(epoch - 1).Markers[0].Topics[0].Partitions[0].ErrorCode);
        Assert.Equal(ErrorCode.None, Marker(epoch).Markers[0].Topics[0].Partitions[0].ErrorCode);
        // A marker with no open transaction ends nothing: the committed data stays visible.
        Assert.Equal(["x"], Visible(Fetch(h, c, 0, 0, readCommitted: true)));
    }

    [Fact]
    public void A_crash_between_prepare_and_markers_completes_the_commit_at_start_up()
    {
        var h = Broker();
        var c = h.Connect();
        var p = Init(h, c, "tx");
        Add(h, c, "tx", p, 0, 1);
        Produce(h, c, 0, p.ProducerId, p.ProducerEpoch, 0, true, "a");
        Produce(h, c, 1, p.ProducerId, p.ProducerEpoch, 0, true, "b");
        // EndTxn answered once PrepareCommit is durable; crash before the markers are synced.
        int corr = h.Send(c, ApiKey.EndTxn, 3, new EndTxnRequest { TransactionalId = "tx", ProducerId = p.ProducerId, ProducerEpoch = p.ProducerEpoch, Committed = true });
        var answers = h.Responses<EndTxnResponse>(c, ApiKey.EndTxn, 3);
        for (int i = 0; i < 10 && answers.Count == 0; i++)
        {
            h.CompleteSyncs(1);
            answers = h.Responses<EndTxnResponse>(c, ApiKey.EndTxn, 3);
        }
        Assert.Equal(corr, Assert.Single(answers).CorrelationId);
        Assert.Equal(ErrorCode.None, answers[0].Body.ErrorCode);
        Assert.Equal(TxnState.PrepareCommit, h.Node.Transactions.Find("tx")!.State);
        h.CrashAndRestart();
        var c2 = h.Connect();
        Settle(h);
        Assert.Equal(TxnState.CompleteCommit, h.Node.Transactions.Find("tx")!.State);
        Assert.Equal(["a"], Visible(Fetch(h, c2, 0, 0, readCommitted: true)));
        Assert.Equal(["b"], Visible(Fetch(h, c2, 1, 0, readCommitted: true)));
        Assert.True(h.Node.Transactions.CoordinatorEpoch >= 2);
    }

    [Fact]
    public void Open_transactions_and_aborted_index_survive_a_restart()
    {
        var h = Broker();
        var c = h.Connect();
        var p = Init(h, c, "tx");
        Add(h, c, "tx", p, 0);
        Produce(h, c, 0, p.ProducerId, p.ProducerEpoch, 0, true, "gone");
        End(h, c, "tx", p.ProducerId, p.ProducerEpoch, commit: false);
        Settle(h);
        Add(h, c, "tx", p, 0);
        Produce(h, c, 0, p.ProducerId, p.ProducerEpoch, 1, true, "open");
        h.Node.Shutdown();
        h.CrashAndRestart();
        var c2 = h.Connect();
        var f = Fetch(h, c2, 0, 0, readCommitted: true);
        Assert.Equal(2, f.LastStableOffset); // gone, abort marker; "open" still undecided
        Assert.Empty(Visible(f));
        Assert.Equal(TxnState.Ongoing, h.Node.Transactions.Find("tx")!.State);
    }

    [Fact]
    public void A_transaction_past_its_timeout_is_aborted_and_its_producer_fenced()
    {
        var h = Broker();
        var c = h.Connect();
        var p = Init(h, c, "tx", timeoutMs: 5_000);
        Add(h, c, "tx", p, 0);
        Produce(h, c, 0, p.ProducerId, p.ProducerEpoch, 0, true, "stuck");
        for (int i = 0; i < 8; i++)
        {
            h.AdvanceTime(1000);
            h.CompleteSyncs();
        }
        Settle(h);
        var txn = h.Node.Transactions.Find("tx")!;
        Assert.Equal(TxnState.CompleteAbort, txn.State);
        Assert.Equal(p.ProducerEpoch + 1, txn.ProducerEpoch);
        Assert.Equal(ErrorCode.ProducerFenced, End(h, c, "tx", p.ProducerId, p.ProducerEpoch, commit: true).ErrorCode);
        var f = Fetch(h, c, 0, 0, readCommitted: true);
        Assert.Empty(Visible(f));
        Assert.Equal(f.HighWatermark, f.LastStableOffset);
        // KIP-360: the fenced producer may recover with its old epoch and gets a newer one.
        var recovered = Init(h, c, "tx", pid: p.ProducerId, epoch: p.ProducerEpoch);
        Assert.Equal(ErrorCode.None, recovered.ErrorCode);
        Assert.True(recovered.ProducerEpoch > txn.ProducerEpoch - 1);
    }

    [Fact]
    public void Transactional_offsets_are_visible_on_commit_and_dropped_on_abort()
    {
        var h = Broker();
        var c = h.Connect();
        var p = Init(h, c, "tx");
        long Committed() => h.Call<OffsetFetchResponse>(c, ApiKey.OffsetFetch, 7, new OffsetFetchRequest
        {
            GroupId = "g", Topics = [new() { Name = Topic, PartitionIndexes = [0] }],
        }).Topics[0].Partitions[0].CommittedOffset;
        TxnOffsetCommitResponse Commit(long offset) => h.Call<TxnOffsetCommitResponse>(c, ApiKey.TxnOffsetCommit, 3, new TxnOffsetCommitRequest
        {
            TransactionalId = "tx", GroupId = "g", ProducerId = p.ProducerId, ProducerEpoch = p.ProducerEpoch,
            Topics = [new() { Name = Topic, Partitions = [new() { PartitionIndex = 0, CommittedOffset = offset }] }],
        });
        // Without AddOffsetsToTxn the group's partition is not in the transaction.
        Assert.Equal(ErrorCode.InvalidTxnState, Commit(5).Topics[0].Partitions[0].ErrorCode);
        var addOffsets = new AddOffsetsToTxnRequest { TransactionalId = "tx", ProducerId = p.ProducerId, ProducerEpoch = p.ProducerEpoch, GroupId = "g" };
        Assert.Equal(ErrorCode.None, h.Call<AddOffsetsToTxnResponse>(c, ApiKey.AddOffsetsToTxn, 3, addOffsets).ErrorCode);
        Assert.Equal(ErrorCode.None, Commit(5).Topics[0].Partitions[0].ErrorCode);
        Assert.Equal(-1, Committed());
        End(h, c, "tx", p.ProducerId, p.ProducerEpoch, commit: true);
        Settle(h);
        Assert.Equal(5, Committed());

        Assert.Equal(ErrorCode.None, h.Call<AddOffsetsToTxnResponse>(c, ApiKey.AddOffsetsToTxn, 3, addOffsets).ErrorCode);
        Assert.Equal(ErrorCode.None, Commit(9).Topics[0].Partitions[0].ErrorCode);
        End(h, c, "tx", p.ProducerId, p.ProducerEpoch, commit: false);
        Settle(h);
        Assert.Equal(5, Committed());

        // And the same after a restart (replayed with their markers).
        Assert.Equal(ErrorCode.None, h.Call<AddOffsetsToTxnResponse>(c, ApiKey.AddOffsetsToTxn, 3, addOffsets).ErrorCode);
        Assert.Equal(ErrorCode.None, Commit(7).Topics[0].Partitions[0].ErrorCode);
        h.Node.Shutdown();
        h.CrashAndRestart();
        c = h.Connect();
        Assert.Equal(5, Committed());
        End(h, c, "tx", p.ProducerId, p.ProducerEpoch, commit: true);
        Settle(h);
        Assert.Equal(7, Committed());
    }

    [Fact]
    public void Clients_cannot_write_markers_or_to_the_state_topic()
    {
        var h = Broker();
        var c = h.Connect();
        Init(h, c, "tx");
        var marker = ControlRecord.BuildMarker(1, 0, 0, commit: true, h.Clock.WallClockMs);
        var r = h.Call<ProduceResponse>(c, ApiKey.Produce, 8, new ProduceRequest
        {
            Acks = -1, TimeoutMs = 1000,
            TopicData = [new() { Name = Topic, PartitionData = [new() { Index = 0, Records = marker }] },
                new() { Name = TransactionRecords.StateTopic, PartitionData = [new() { Index = 0, Records = RecordBatchBuilder.Build(1, CompressionCodec.None, [1]) }] }],
        });
        Assert.Equal(ErrorCode.InvalidRecord, r.Responses[0].PartitionResponses[0].ErrorCode);
        Assert.Equal(ErrorCode.InvalidTopicException, r.Responses[1].PartitionResponses[0].ErrorCode);
    }
}
