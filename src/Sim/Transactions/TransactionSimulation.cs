using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Records;
using DetKafka.Core.Transactions;

namespace DetKafka.Sim.Transactions;

/// <summary>Knobs of a transactional run (TRANSACTIONS.md, "What the simulator checks").</summary>
public sealed record TransactionSimOptions
{
    public int Transactions { get; init; } = 40;
    public int Producers { get; init; } = 3;
    public int Partitions { get; init; } = 3;
    public double AbortProbability { get; init; } = 0.3;
    /// <summary>A node crash (unsynced writes lost) while EndTxn is in flight: between the prepare record and the markers.</summary>
    public double CrashInEndTxnProbability { get; init; } = 0.15;
    /// <summary>A node crash in the middle of a transaction (it is left open; the producer's next instance fences it).</summary>
    public double CrashMidTransactionProbability { get; init; } = 0.08;
    /// <summary>A zombie's late produce of a transaction that already ended, at the same epoch.</summary>
    public double LateProduceProbability { get; init; } = 0.2;
    /// <summary>A produce is sent twice (a retry whose first answer was lost): idempotence must answer the second
    /// with the first's offsets.</summary>
    public double RetryProduceProbability { get; init; } = 0.15;
    /// <summary>Read-process-write: scheduler steps of the loops (each a poll, a write round or a commit).</summary>
    public int ReadProcessWriteSteps { get; init; } = 300;
    /// <summary>Read-process-write: the injector's transactions of fresh input at most.</summary>
    public int Injections { get; init; } = 10;
    /// <summary>Read-process-write: per step, a loop's instance is replaced by a new one with the same
    /// transactional.id (half the time the old one carries on as a zombie).</summary>
    public double ReplaceInstanceProbability { get; init; } = 0.03;
    /// <summary>Read-process-write: a marker write to a data partition is held back and applied a few steps later.</summary>
    public double HoldMarkerProbability { get; init; } = 0.15;
    /// <summary>Read-process-write: a produce is re-sent later (a delayed retry), after the loop moved on.</summary>
    public double DelayedProduceProbability { get; init; } = 0.1;
    /// <summary>Planted bug (test-only): partitions ignore producer sequences, so retries are written twice.</summary>
    public bool IgnoreProducerSequences { get; init; }
    /// <summary>Planted bugs (test-only).</summary>
    public TransactionFaults Faults { get; init; } = TransactionFaults.None;
}

/// <summary>What one seed found: per check, how many violations, and the first explanation of each.</summary>
public sealed class TransactionSimResult
{
    public Dictionary<string, int> Violations { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, string> First { get; } = new(StringComparer.Ordinal);
    public int Committed { get; set; }
    public int Aborted { get; set; }
    public int Undecided { get; set; }
    public int Crashes { get; set; }
    public int LateProducesRefused { get; set; }
    /// <summary>Read-process-write: markers from before a crash delivered (and refused) after the restart.</summary>
    public int StaleMarkersDelivered { get; set; }
    /// <summary>Read-process-write: marker writes held back and applied late while the node stayed up.</summary>
    public int HeldMarkersReleased { get; set; }
    /// <summary>Read-process-write: crashes while a transaction was prepared (PrepareCommit/PrepareAbort durable)
    /// and its markers not all written.</summary>
    public int CrashesBetweenPrepareAndMarkers { get; set; }
    /// <summary>Read-process-write: input records whose one committed output was counted.</summary>
    public int ExactlyOnceOutputs { get; set; }
    public bool IsValid => Violations.Count == 0;

    internal void Fail(string check, string why)
    {
        Violations[check] = Violations.GetValueOrDefault(check) + 1;
        First.TryAdd(check, why);
    }

    public string Summary() => IsValid
        ? $"ok: {Committed} committed, {Aborted} aborted, {Undecided} decided by recovery, {Crashes} crashes, {LateProducesRefused} late produces refused"
        : string.Join("; ", Violations.Select(v => $"{v.Key} x{v.Value}: {First[v.Key]}"));
}

/// <summary>
/// A transactional workload against one <see cref="BrokerNode"/> on a simulated disk, one seed: producers run
/// transactions (AddPartitionsToTxn, produce, AddOffsetsToTxn + TxnOffsetCommit of a counter, EndTxn commit or
/// abort), the node crashes (losing unsynced writes) in the middle of transactions and while EndTxn is in flight
/// (between the prepare record and the markers), zombies re-send produces of ended transactions, and
/// read_committed reads run between transactions. Checks, against what each transaction's outcome was:
/// <list type="bullet">
/// <item><c>aborted-read</c> (G1a): a read_committed read returned a value of an aborted transaction;</item>
/// <item><c>uncommitted-read</c>: a read_committed read returned a value of a transaction not committed at the time
/// (reading above the true LSO, G1b's intermediate state);</item>
/// <item><c>lost-write</c>: a committed transaction's value is not readable at the end;</item>
/// <item><c>torn-transaction</c>: part of a transaction is visible at the end and part is not;</item>
/// <item><c>duplicate</c>: a value is visible twice (idempotence is on for every transactional producer);</item>
/// <item><c>late-write-visible</c>: a zombie's produce of an ended transaction became visible (KIP-890);</item>
/// <item><c>offset-not-exactly-once</c>: the group's committed offset is not the counter of the last committed
/// transaction that sent offsets (an aborted one's offset applied, or a committed one's lost).</item>
/// </list>
/// G0 and G1c need concurrent readers-writers and are checked by the history checker (SIMULATION.md), not here.
/// </summary>
public sealed partial class TransactionSimulation
{
    private const string Topic = "t";
    private const string Group = "g";
    private readonly TransactionSimOptions _options;
    private readonly SeededRandom _random;
    private readonly SimDisk _disk = new();
    private readonly ManualClock _clock = new();
    private readonly RecordingNetwork _network = new();
    private readonly BrokerConfig _config;
    private readonly TransactionSimResult _result = new();
    private BrokerNode _node = null!;
    private ConnectionId _connection;
    private long _nextConnection = 1;
    private int _correlation = 1;

    private enum Outcome { Open, Committed, Aborted, Unknown }

    private sealed class Txn(int id)
    {
        public int Id { get; } = id;
        public Outcome Outcome { get; set; } = Outcome.Open;
        public List<string> Values { get; } = new();
        public bool SentOffsets { get; set; }
    }

    private sealed class ProducerSim(string transactionalId)
    {
        public string TransactionalId { get; } = transactionalId;
        public long ProducerId = -1;
        public short Epoch = -1;
        public readonly Dictionary<int, int> Sequences = new();
        public Txn? Last;
    }

    private readonly Dictionary<string, Txn> _writerOf = new(StringComparer.Ordinal);
    private readonly List<Txn> _txns = new();
    private readonly HashSet<string> _late = new(StringComparer.Ordinal);
    /// <summary>Which marker writes the coordinator holds back (delayed markers); null: none.</summary>
    private Func<Core.Protocol.TopicPartition, bool>? _holdMarker;

    public TransactionSimulation(ulong seed, TransactionSimOptions? options = null)
    {
        _options = options ?? new TransactionSimOptions();
        _random = new SeededRandom(seed);
        _config = new BrokerConfig
        {
            NodeId = 1, DataDirectory = "data", OffsetsTopicNumPartitions = 2, TransactionStateLogNumPartitions = 2,
            TransactionAbortTimedOutTransactionCleanupIntervalMs = 1000,
            TestOnlyIgnoreProducerSequences = _options.IgnoreProducerSequences,
        };
    }

    public static TransactionSimResult Run(ulong seed, TransactionSimOptions? options = null) => new TransactionSimulation(seed, options).Run();

    public TransactionSimResult Run()
    {
        Boot();
        var (error, _) = _node.CreateTopic(Topic, _options.Partitions, [], validateOnly: false, out _);
        if (error != ErrorCode.None) throw new InvalidOperationException("could not create the topic: " + error);
        var producers = Enumerable.Range(0, _options.Producers).Select(i => new ProducerSim($"tx-{i}")).ToList();
        int lastOffsetsCounter = -1;
        for (int n = 0; n < _options.Transactions; n++)
        {
            var p = producers[_random.NextInt(0, producers.Count)];
            if (p.ProducerId < 0 && !InitProducer(p)) continue;
            var txn = new Txn(n);
            _txns.Add(txn);
            p.Last = txn;
            var partitions = Enumerable.Range(0, _options.Partitions).Where(_ => _random.NextBool(0.6)).ToList();
            if (partitions.Count == 0) partitions.Add(_random.NextInt(0, _options.Partitions));
            var add = Call<AddPartitionsToTxnResponse>(ApiKey.AddPartitionsToTxn, 3, new AddPartitionsToTxnRequest
            {
                TransactionalId = p.TransactionalId, ProducerId = p.ProducerId, ProducerEpoch = p.Epoch,
                Topics = [new() { Name = Topic, Partitions = partitions }],
            });
            if (add.Results.Any(t => t.Results.Any(r => r.ErrorCode != ErrorCode.None)))
            {
                txn.Outcome = Outcome.Aborted; // nothing of it was written
                p.ProducerId = -1;
                continue;
            }
            bool failed = false;
            foreach (int partition in partitions)
            {
                int count = _random.NextInt(1, 4);
                var values = Enumerable.Range(0, count).Select(k => $"{p.TransactionalId}/{n}/{partition}/{k}").ToList();
                if (Produce(p, partition, values) != ErrorCode.None)
                {
                    failed = true;
                    break;
                }
                foreach (var v in values)
                {
                    txn.Values.Add(v);
                    _writerOf[v] = txn;
                }
            }
            if (!failed && _random.NextBool(0.5)) failed = !SendOffsets(p, txn, n);
            if (failed)
            {
                // The producer gives up on this instance; its next one fences and aborts the transaction.
                txn.Outcome = Outcome.Aborted;
                p.ProducerId = -1;
                continue;
            }
            if (_random.NextBool(_options.CrashMidTransactionProbability))
            {
                Crash();
                txn.Outcome = Outcome.Aborted; // left open: the producer's next InitProducerId aborts it
                foreach (var q in producers) q.ProducerId = -1;
                continue;
            }
            ReadCommitted(); // while this transaction is open: nothing of it may show
            bool commit = !_random.NextBool(_options.AbortProbability);
            if (_random.NextBool(_options.CrashInEndTxnProbability))
            {
                // The coordinator crashes between the prepare record and the markers (or before the prepare is durable).
                Send(ApiKey.EndTxn, 3, new EndTxnRequest { TransactionalId = p.TransactionalId, ProducerId = p.ProducerId, ProducerEpoch = p.Epoch, Committed = commit });
                int syncs = _random.NextInt(0, 4);
                for (int i = 0; i < syncs; i++) CompleteSyncs(1);
                var answered = Responses<EndTxnResponse>(ApiKey.EndTxn, 3);
                Crash();
                foreach (var q in producers) q.ProducerId = -1;
                txn.Outcome = answered.Count == 1 && answered[0].ErrorCode == ErrorCode.None
                    ? (commit ? Outcome.Committed : Outcome.Aborted)
                    : commit ? Outcome.Unknown : Outcome.Aborted;
                if (txn.Outcome == Outcome.Unknown) _result.Undecided++;
            }
            else
            {
                var end = Call<EndTxnResponse>(ApiKey.EndTxn, 3, new EndTxnRequest { TransactionalId = p.TransactionalId, ProducerId = p.ProducerId, ProducerEpoch = p.Epoch, Committed = commit });
                if (end.ErrorCode != ErrorCode.None) throw new InvalidOperationException($"EndTxn failed without a fault: {end.ErrorCode}");
                txn.Outcome = commit ? Outcome.Committed : Outcome.Aborted;
                Settle();
                if (_random.NextBool(_options.LateProduceProbability)) LateProduce(p, partitions[0]);
            }
            if (txn.Outcome == Outcome.Committed && txn.SentOffsets) lastOffsetsCounter = Math.Max(lastOffsetsCounter, txn.Id);
            ReadCommitted();
        }
        // Every producer finishes: a fresh instance of each fences and aborts whatever is still open.
        foreach (var p in producers) InitProducer(p);
        Settle();
        // Transactions whose EndTxn crashed: decided by recovery; see which way from what is visible.
        var final = ReadAll();
        CheckFinal(final);
        CheckOffsets(lastOffsetsCounter);
        _result.Committed = _txns.Count(t => t.Outcome == Outcome.Committed);
        _result.Aborted = _txns.Count(t => t.Outcome == Outcome.Aborted);
        return _result;
    }

    // ---- the node -----------------------------------------------------------------------------------------------

    private void Boot()
    {
        _node = new BrokerNode(_config, _clock, _disk, _network, new SeededRandom(_random.NextUInt64()), NullBrokerLog.Instance);
        _node.Transactions.Faults = _options.Faults;
        _node.Transactions.HoldMarker = _holdMarker;
        _node.Start();
        _connection = new ConnectionId(_nextConnection++);
        _node.OnConnectionOpened(_connection);
    }

    private void Crash()
    {
        _result.Crashes++;
        _disk.Crash();
        Boot();
    }

    private int CompleteSyncs(int max = int.MaxValue)
    {
        var done = _disk.CompletePendingSyncs(max);
        foreach (var (token, status) in done) _node.OnSyncCompleted(token, status);
        return done.Count;
    }

    private void Advance(long ms)
    {
        _clock.Advance(ms);
        if (_node.NextDeadlineMs <= _clock.MonotonicMs) _node.Poll();
    }

    private void Settle()
    {
        for (int i = 0; i < 30; i++)
        {
            CompleteSyncs();
            Advance(5);
        }
    }

    private int Send(ApiKey key, short version, IKafkaMessage body)
    {
        int correlation = _correlation++;
        _node.OnReceive(_connection, ClientCodec.EncodeRequest(key, version, correlation, "txn-sim", body));
        return correlation;
    }

    private List<T> Responses<T>(ApiKey key, short version) where T : IKafkaMessage
        => _network.TakeFrames(_connection).Select(f => (T)ClientCodec.DecodeResponse(key, version, new ArraySegment<byte>(f), out _)).ToList();

    private T Call<T>(ApiKey key, short version, IKafkaMessage body) where T : IKafkaMessage
    {
        Send(key, version, body);
        for (int round = 0; round < 2000; round++)
        {
            var got = Responses<T>(key, version);
            if (got.Count > 0) return got.Single();
            if (CompleteSyncs() == 0) Advance(Math.Max(1, Math.Min(100, _node.NextDeadlineMs - _clock.MonotonicMs)));
        }
        throw new InvalidOperationException($"no answer to {key}");
    }

    // ---- the producers -----------------------------------------------------------------------------------------------

    private bool InitProducer(ProducerSim p)
    {
        for (int attempt = 0; attempt < 20; attempt++)
        {
            var r = Call<InitProducerIdResponse>(ApiKey.InitProducerId, 4, new InitProducerIdRequest { TransactionalId = p.TransactionalId, TransactionTimeoutMs = 60_000 });
            if (r.ErrorCode == ErrorCode.None)
            {
                p.ProducerId = r.ProducerId;
                p.Epoch = r.ProducerEpoch;
                p.Sequences.Clear();
                return true;
            }
            Settle();
        }
        return false;
    }

    private ErrorCode Produce(ProducerSim p, int partition, List<string> values, bool late = false)
    {
        int sequence = p.Sequences.GetValueOrDefault(partition);
        var records = values.Select(v => new SimpleRecord(null, System.Text.Encoding.UTF8.GetBytes(v), _clock.WallClockMs)).ToList();
        var batch = RecordBatchBuilder.Build(records, producerId: p.ProducerId, producerEpoch: p.Epoch, baseSequence: sequence, isTransactional: true);
        var request = new ProduceRequest
        {
            TransactionalId = p.TransactionalId, Acks = -1, TimeoutMs = 5000,
            TopicData = [new() { Name = Topic, PartitionData = [new() { Index = partition, Records = batch }] }],
        };
        var r = Call<ProduceResponse>(ApiKey.Produce, 8, request);
        var error = r.Responses[0].PartitionResponses[0].ErrorCode;
        if (error == ErrorCode.None && !late && _random.NextBool(_options.RetryProduceProbability))
        {
            // The same batch again, as a client whose answer was lost retries it: a duplicate, answered as the first.
            var again = Call<ProduceResponse>(ApiKey.Produce, 8, request).Responses[0].PartitionResponses[0];
            if (again.ErrorCode == ErrorCode.None && again.BaseOffset != r.Responses[0].PartitionResponses[0].BaseOffset && !_options.IgnoreProducerSequences)
                _result.Fail("duplicate", $"a retried batch of {p.TransactionalId} got offset {again.BaseOffset}, the original {r.Responses[0].PartitionResponses[0].BaseOffset}");
        }
        if (error == ErrorCode.None && !late) p.Sequences[partition] = sequence + values.Count;
        return error;
    }

    private bool SendOffsets(ProducerSim p, Txn txn, int counter)
    {
        var add = Call<AddOffsetsToTxnResponse>(ApiKey.AddOffsetsToTxn, 3, new AddOffsetsToTxnRequest
        {
            TransactionalId = p.TransactionalId, ProducerId = p.ProducerId, ProducerEpoch = p.Epoch, GroupId = Group,
        });
        if (add.ErrorCode != ErrorCode.None) return false;
        var commit = Call<TxnOffsetCommitResponse>(ApiKey.TxnOffsetCommit, 3, new TxnOffsetCommitRequest
        {
            TransactionalId = p.TransactionalId, GroupId = Group, ProducerId = p.ProducerId, ProducerEpoch = p.Epoch,
            Topics = [new() { Name = Topic, Partitions = [new() { PartitionIndex = 0, CommittedOffset = counter }] }],
        });
        if (commit.Topics[0].Partitions[0].ErrorCode != ErrorCode.None) return false;
        txn.SentOffsets = true;
        return true;
    }

    /// <summary>A zombie of the ended transaction re-sends to one of its partitions with the same epoch and the next
    /// sequence: KIP-890's late produce. It must not become part of the producer's next transaction.</summary>
    private void LateProduce(ProducerSim p, int partition)
    {
        string value = $"{p.TransactionalId}/late/{_late.Count}";
        var error = Produce(p, partition, [value], late: true);
        if (error == ErrorCode.None)
        {
            _late.Add(value);
            p.Sequences[partition] = p.Sequences.GetValueOrDefault(partition) + 1;
        }
        else _result.LateProducesRefused++;
    }

    // ---- reads and checks -------------------------------------------------------------------------------------------

    /// <summary>Everything a read_committed consumer reads now, per partition, with the LSO each fetch reported;
    /// checks each record against the reported LSO and the state of its transaction at this moment.</summary>
    private List<string> ReadCommitted() => ReadAll(final: false);

    private List<string> ReadAll(bool final = true)
    {
        var read = new List<(string Value, long Offset)>();
        for (int partition = 0; partition < _options.Partitions; partition++)
        {
            long offset = 0;
            for (int round = 0; round < 1000; round++)
            {
                var f = Call<FetchResponse>(ApiKey.Fetch, 11, new FetchRequest
                {
                    MaxWaitMs = 0, MinBytes = 0, IsolationLevel = 1,
                    Topics = [new() { Topic = Topic, Partitions = [new() { Partition = partition, FetchOffset = offset, PartitionMaxBytes = 1 << 16 }] }],
                }).Responses[0].Partitions[0];
                if (f.ErrorCode != ErrorCode.None) throw new InvalidOperationException($"fetch failed: {f.ErrorCode}");
                var bytes = f.Records?.ToArray() ?? [];
                if (bytes.Length == 0) break;
                long next = ConsumeBatches(bytes, f, $"partition {partition}", fromOffset: 0, read);
                if (next <= offset) break;
                offset = next;
            }
        }
        var visible = read.Select(r => r.Value).ToList();
        foreach (var v in visible)
        {
            if (_late.Contains(v))
            {
                _result.Fail("late-write-visible", $"{v}: a produce after its transaction ended became visible");
                continue;
            }
            if (!_writerOf.TryGetValue(v, out var txn)) continue;
            if (txn.Outcome == Outcome.Aborted) _result.Fail("aborted-read", $"{v} of aborted transaction {txn.Id} was read at read_committed");
            else if (txn.Outcome == Outcome.Open && !final) _result.Fail("uncommitted-read", $"{v} of transaction {txn.Id} was read while it was open");
        }
        return visible;
    }

    /// <summary>A read_committed consumer's filter (Kafka's consumer): data of a producer in an aborted transaction
    /// listed by the fetch is skipped until that producer's abort marker; markers are not data. Adds the values at or
    /// above <paramref name="fromOffset"/> to <paramref name="visible"/> with their offsets, checks every batch against
    /// the LSO the fetch reported, and returns the offset after the last whole batch (-1 when there is none).</summary>
    private long ConsumeBatches(byte[] bytes, FetchResponse.PartitionData f, string where, long fromOffset, List<(string Value, long Offset)> visible)
    {
        var aborted = (f.AbortedTransactions ?? []).OrderBy(a => a.FirstOffset).ToList();
        var inAborted = new HashSet<long>();
        int pos = 0;
        long next = -1;
        var decoded = new List<DecodedRecord>();
        while (pos + RecordBatch.HeaderSize <= bytes.Length && RecordBatchHeader.TryRead(bytes.AsSpan(pos), out var h) && pos + h.TotalSize <= bytes.Length)
        {
            var batch = bytes.AsSpan(pos, (int)h.TotalSize);
            while (aborted.Count > 0 && aborted[0].FirstOffset <= h.LastOffset)
            {
                inAborted.Add(aborted[0].ProducerId);
                aborted.RemoveAt(0);
            }
            if (h.LastOffset >= f.LastStableOffset)
                _result.Fail("read-above-lso", $"{where}: batch at {h.BaseOffset} returned at read_committed with LSO {f.LastStableOffset}");
            if (h.IsControl)
            {
                if (ControlRecord.TryReadMarker(batch, out bool commit, out _) && !commit) inAborted.Remove(h.ProducerId);
            }
            else if (!(h.IsTransactional && inAborted.Contains(h.ProducerId)))
            {
                decoded.Clear();
                if (RecordBatchDecoder.Decode(batch, decoded) == ErrorCode.None)
                    foreach (var d in decoded)
                        if (d.Offset >= fromOffset) visible.Add((System.Text.Encoding.UTF8.GetString(d.Value ?? []), d.Offset));
            }
            next = Math.Max(next, h.LastOffset + 1);
            pos += (int)h.TotalSize;
        }
        return next;
    }

    private void CheckFinal(List<string> visible)
    {
        var counts = visible.GroupBy(v => v, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        foreach (var (v, c) in counts)
            if (c > 1) _result.Fail("duplicate", $"{v} is visible {c} times");
        foreach (var txn in _txns)
        {
            if (txn.Values.Count == 0) continue;
            int seen = txn.Values.Count(counts.ContainsKey);
            if (seen > 0 && seen < txn.Values.Count)
                _result.Fail("torn-transaction", $"transaction {txn.Id} ({txn.Outcome}): {seen} of {txn.Values.Count} values visible");
            if (txn.Outcome == Outcome.Committed && seen < txn.Values.Count)
                _result.Fail("lost-write", $"committed transaction {txn.Id}: {txn.Values.Count - seen} values not visible");
            if (txn.Outcome == Outcome.Unknown) txn.Outcome = seen > 0 ? Outcome.Committed : Outcome.Aborted;
        }
    }

    private void CheckOffsets(int lastCommittedCounter)
    {
        // Transactions decided by recovery count as what became visible (CheckFinal); a recovered commit that sent
        // offsets may be the newest.
        int expected = lastCommittedCounter;
        foreach (var t in _txns)
            if (t.Outcome == Outcome.Committed && t.SentOffsets) expected = Math.Max(expected, t.Id);
        var r = Call<OffsetFetchResponse>(ApiKey.OffsetFetch, 7, new OffsetFetchRequest
        {
            GroupId = Group, Topics = [new() { Name = Topic, PartitionIndexes = [0] }],
        });
        long got = r.Topics[0].Partitions[0].CommittedOffset;
        if (got != expected)
            _result.Fail("offset-not-exactly-once", $"group offset {got}, expected {expected} (the last committed transaction that sent offsets)");
    }
}
