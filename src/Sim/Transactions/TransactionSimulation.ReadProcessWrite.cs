using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Records;
using DetKafka.Sim.Checkers;

namespace DetKafka.Sim.Transactions;

/// <summary>
/// The read-process-write workload (TRANSACTIONS.md, "What the simulator checks"): transactional loops consume a
/// ring of partitions at read_committed, write one child per record they read to the next partition of the ring
/// (or, at the last hop, to a sink topic) and commit their input offsets in the same transaction
/// (AddOffsetsToTxn + TxnOffsetCommit), one to two poll/write rounds per transaction, interleaved step by step
/// with each other and with an injector's transactions. Faults: node crashes (unsynced writes lost) mid-transaction
/// and while EndTxn is in flight (between the prepare record and the markers), a loop's instance replaced by a new
/// one with the same transactional.id (the old one carries on as a zombie), marker writes held back and applied
/// late (a delayed marker), markers captured before a crash and delivered after the restart through
/// WriteTxnMarkers (a stale coordinator's delayed marker), and produces re-sent late (a delayed retry).
/// The checks are over the history of transactions (their reads and writes) and what is committed at the end:
/// exactly-once counts on the output, G0, G1a, G1b, G1c, duplicates, lost writes, uncommitted reads.
/// </summary>
public sealed partial class TransactionSimulation
{
    private const string Ring = "ring";
    private const string Sink = "sink";
    private const string RpwGroup = "rpw";
    private const int RingPartitions = 2;
    /// <summary>A record's hop count; the child of a record at the last hop goes to the sink.</summary>
    private const int Hops = 4;
    private const int PollRecordsMax = 2;

    public static TransactionSimResult RunReadProcessWrite(ulong seed, TransactionSimOptions? options = null)
        => new TransactionSimulation(seed, options).ReadProcessWrite();

    private enum Phase { Init, Poll, Write, Commit }

    /// <summary>One transaction of the history: who ran it, what it read (values) and wrote (where).</summary>
    private sealed class RTxn(int index, string owner)
    {
        public int Index { get; } = index;
        public string Owner { get; } = owner;
        public Outcome Outcome { get; set; } = Outcome.Open;
        public List<string> Reads { get; } = new();
        public List<(string Topic, int Partition, long Offset, string Value)> Writes { get; } = new();
    }

    private sealed class Instance(int loop)
    {
        public int Loop { get; } = loop;
        public string Id => $"rpw-{Loop}";
        public long ProducerId = -1;
        public short Epoch = -1;
        public bool Zombie;
        public Phase Phase = Phase.Init;
        public long Position;
        public long TxnStart;
        public RTxn? Txn;
        public int Round;
        public readonly List<string> Pending = new();
        public readonly HashSet<(string, int)> Added = new();
        public readonly Dictionary<(string, int), int> Sequences = new();
    }

    private sealed record FetchView(string Topic, int Partition, long Lso, List<string> Values);
    private sealed record StaleMarker(string Owner, long ProducerId, short ProducerEpoch, bool Commit, int CoordinatorEpoch, List<Core.Protocol.TopicPartition> Partitions);
    private sealed record DelayedProduce(Instance Instance, ProduceRequest Request, RTxn Txn, string Value, long OriginalOffset, string Topic, int Partition);

    private readonly List<RTxn> _history = new();
    private readonly Dictionary<string, RTxn> _rWriter = new(StringComparer.Ordinal);
    private readonly List<FetchView> _views = new();
    private readonly List<StaleMarker> _stale = new();
    private readonly List<DelayedProduce> _delayed = new();
    private readonly List<Instance> _zombies = new();
    private Instance[] _loops = [];
    private long _injectorPid = -1;
    private short _injectorEpoch = -1;
    private readonly Dictionary<int, int> _injectorSequences = new();
    private int _injections;

    private TransactionSimResult ReadProcessWrite()
    {
        _holdMarker = tp => (tp.Topic == Ring || tp.Topic == Sink) && _random.NextBool(_options.HoldMarkerProbability);
        Boot();
        foreach (var (topic, n) in new[] { (Ring, RingPartitions), (Sink, RingPartitions) })
        {
            var (error, _) = _node.CreateTopic(topic, n, [], validateOnly: false, out _);
            if (error != ErrorCode.None) throw new InvalidOperationException($"could not create {topic}: {error}");
        }
        _loops = Enumerable.Range(0, RingPartitions).Select(i => new Instance(i)).ToArray();
        Inject();
        for (int step = 0; step < _options.ReadProcessWriteSteps; step++)
        {
            if (_injections < _options.Injections && _random.NextBool(0.12)) Inject();
            if (_zombies.Count > 0 && _random.NextBool(0.25))
            {
                var z = _zombies[_random.NextInt(0, _zombies.Count)];
                if (!StepInstance(z)) _zombies.Remove(z);
            }
            else
            {
                var loop = _loops[_random.NextInt(0, _loops.Length)];
                if (!StepInstance(loop)) Replace(loop.Loop, zombie: false);
            }
            if (_random.NextBool(_options.ReplaceInstanceProbability)) Replace(_random.NextInt(0, _loops.Length), zombie: _random.NextBool(0.5));
            if (_random.NextBool(_options.CrashMidTransactionProbability / 4)) CrashAll(null);
            if (_node.Transactions.HeldMarkers.Count > 0 && _random.NextBool(0.3))
            {
                int n = Math.Min(_node.Transactions.HeldMarkers.Count, _random.NextInt(1, 3));
                _result.HeldMarkersReleased += n;
                _node.Transactions.ReleaseHeldMarkers(n);
            }
            DeliverStaleMarkers(final: false);
            if (_delayed.Count > 0 && _random.NextBool(0.3)) DeliverDelayed(_delayed[_random.NextInt(0, _delayed.Count)]);
        }

        // The end: delayed things arrive, every loop's next instance fences whatever is still open.
        _holdMarker = null;
        _node.Transactions.HoldMarker = null;
        _node.Transactions.ReleaseHeldMarkers();
        DeliverStaleMarkers(final: true);
        foreach (var d in _delayed.ToList()) DeliverDelayed(d);
        _zombies.Clear();
        foreach (var l in _loops) Replace(l.Loop, zombie: false);
        for (int i = 0; i < 10 && _node.Transactions.HeldMarkers.Count > 0; i++)
        {
            _node.Transactions.ReleaseHeldMarkers();
            Settle();
        }
        Settle();
        CheckReadProcessWrite();
        // Transactions that wrote something (a loop's transaction that found no input wrote nothing).
        _result.Committed = _history.Count(t => t.Outcome == Outcome.Committed && t.Writes.Count > 0);
        _result.Aborted = _history.Count(t => t.Outcome == Outcome.Aborted && t.Writes.Count > 0);
        return _result;
    }

    // ---- the injector: transactions of fresh records into the ring ---------------------------------------------------

    private void Inject()
    {
        const string id = "injector";
        if (_injectorPid < 0)
        {
            var r = Call<InitProducerIdResponse>(ApiKey.InitProducerId, 4, new InitProducerIdRequest { TransactionalId = id, TransactionTimeoutMs = 60_000 });
            if (r.ErrorCode != ErrorCode.None) return;
            (_injectorPid, _injectorEpoch) = (r.ProducerId, r.ProducerEpoch);
            _injectorSequences.Clear();
        }
        var txn = NewTxn(id);
        int origin = _injections++;
        var partitions = Enumerable.Range(0, RingPartitions).Where(_ => _random.NextBool(0.7)).DefaultIfEmpty(0).ToList();
        var add = Call<AddPartitionsToTxnResponse>(ApiKey.AddPartitionsToTxn, 3, new AddPartitionsToTxnRequest
        {
            TransactionalId = id, ProducerId = _injectorPid, ProducerEpoch = _injectorEpoch,
            Topics = [new() { Name = Ring, Partitions = partitions }],
        });
        if (add.Results.Any(t => t.Results.Any(x => x.ErrorCode != ErrorCode.None)))
        {
            txn.Outcome = Outcome.Aborted;
            _injectorPid = -1;
            return;
        }
        foreach (int p in partitions)
        {
            int count = _random.NextInt(1, 3);
            var values = Enumerable.Range(0, count).Select(k => $"o{origin}.{p}.{k}/0/i{txn.Index}").ToList();
            int seq = _injectorSequences.GetValueOrDefault(p);
            var (error, offset, _) = ProduceTo(id, _injectorPid, _injectorEpoch, seq, Ring, p, values);
            if (error != ErrorCode.None)
            {
                txn.Outcome = Outcome.Aborted;
                _injectorPid = -1;
                return;
            }
            _injectorSequences[p] = seq + count;
            for (int k = 0; k < count; k++) RecordWrite(txn, Ring, p, offset + k, values[k]);
        }
        bool commit = !_random.NextBool(0.2);
        var end = Call<EndTxnResponse>(ApiKey.EndTxn, 3, new EndTxnRequest { TransactionalId = id, ProducerId = _injectorPid, ProducerEpoch = _injectorEpoch, Committed = commit });
        if (end.ErrorCode != ErrorCode.None)
        {
            txn.Outcome = Outcome.Aborted; // fenced by a timeout: aborted by the coordinator
            _injectorPid = -1;
            return;
        }
        txn.Outcome = commit ? Outcome.Committed : Outcome.Aborted;
    }

    private RTxn NewTxn(string owner)
    {
        var t = new RTxn(_history.Count, owner);
        _history.Add(t);
        return t;
    }

    private void RecordWrite(RTxn txn, string topic, int partition, long offset, string value)
    {
        txn.Writes.Add((topic, partition, offset, value));
        _rWriter.TryAdd(value, txn);
    }

    // ---- the loops -------------------------------------------------------------------------------------------------

    /// <summary>One step of a loop instance; false when the instance gave up (an error it cannot retry).</summary>
    private bool StepInstance(Instance i)
    {
        switch (i.Phase)
        {
            case Phase.Init:
                return StepInit(i);
            case Phase.Poll:
                StepPoll(i);
                return true;
            case Phase.Write:
                return StepWrite(i);
            default:
                return StepCommit(i);
        }
    }

    private bool StepInit(Instance i)
    {
        if (i.ProducerId < 0)
        {
            var r = Call<InitProducerIdResponse>(ApiKey.InitProducerId, 4, new InitProducerIdRequest { TransactionalId = i.Id, TransactionTimeoutMs = 60_000 });
            if (r.ErrorCode == ErrorCode.ConcurrentTransactions) return true; // try again later
            if (r.ErrorCode != ErrorCode.None) return false;
            (i.ProducerId, i.Epoch) = (r.ProducerId, r.ProducerEpoch);
            i.Sequences.Clear();
        }
        var f = Call<OffsetFetchResponse>(ApiKey.OffsetFetch, 7, new OffsetFetchRequest
        {
            GroupId = RpwGroup, RequireStable = true, Topics = [new() { Name = Ring, PartitionIndexes = [i.Loop] }],
        });
        var pe = f.Topics[0].Partitions[0];
        if (pe.ErrorCode == ErrorCode.UnstableOffsetCommit) return true; // a transaction's offsets are pending: later
        if (pe.ErrorCode != ErrorCode.None) return false;
        i.Position = Math.Max(0, pe.CommittedOffset);
        i.Phase = Phase.Poll;
        return true;
    }

    private void StepPoll(Instance i)
    {
        if (i.Txn is null)
        {
            i.Txn = NewTxn(i.Id);
            i.TxnStart = i.Position;
            i.Round = 0;
            i.Added.Clear();
        }
        var (records, next) = FetchOnce(Ring, i.Loop, i.Position);
        var taken = records.Take(PollRecordsMax).ToList();
        i.Position = taken.Count < records.Count ? taken[^1].Offset + 1 : Math.Max(i.Position, next);
        foreach (var (v, _) in taken)
        {
            i.Txn.Reads.Add(v);
            if (_rWriter.TryGetValue(v, out var w) && w != i.Txn && w.Outcome == Outcome.Open)
                _result.Fail("uncommitted-read", $"{i.Id} read {v} of transaction {w.Index} while it was open");
        }
        i.Pending.Clear();
        i.Pending.AddRange(taken.Select(t => t.Value));
        if (i.Pending.Count > 0) i.Phase = Phase.Write;
        else if (i.Txn.Reads.Count > 0) i.Phase = Phase.Commit;
        // else: nothing to do yet; the (empty) transaction waits for input.
    }

    private static (string Topic, int Partition, string Value) ChildOf(string value, RTxn txn)
    {
        // value = "<lineage>/<hop>/<writer>"
        var parts = value.Split('/');
        int hop = int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture) + 1;
        int source = int.Parse(parts[0].Split('.')[1], System.Globalization.CultureInfo.InvariantCulture);
        string child = $"{parts[0]}/{hop}/t{txn.Index}";
        return hop >= Hops ? (Sink, source, child) : (Ring, (source + hop) % RingPartitions, child);
    }

    private bool StepWrite(Instance i)
    {
        var txn = i.Txn!;
        while (i.Pending.Count > 0)
        {
            string v = i.Pending[0];
            var (topic, partition, child) = ChildOf(v, txn);
            if (!i.Added.Contains((topic, partition)))
            {
                var add = Call<AddPartitionsToTxnResponse>(ApiKey.AddPartitionsToTxn, 3, new AddPartitionsToTxnRequest
                {
                    TransactionalId = i.Id, ProducerId = i.ProducerId, ProducerEpoch = i.Epoch,
                    Topics = [new() { Name = topic, Partitions = [partition] }],
                });
                var e = add.Results.SelectMany(t => t.Results).Select(r => r.ErrorCode).FirstOrDefault(x => x != ErrorCode.None);
                if (e == ErrorCode.ConcurrentTransactions && !i.Zombie) return true; // the previous transaction's markers are on their way
                if (e != ErrorCode.None)
                {
                    if (i.Zombie && e is not (ErrorCode.ProducerFenced or ErrorCode.InvalidProducerEpoch or ErrorCode.InvalidProducerIdMapping or ErrorCode.InvalidTxnState))
                        _result.Fail("zombie-not-fenced", $"zombie {i.Id} epoch {i.Epoch}: AddPartitionsToTxn answered {e}");
                    return false;
                }
                if (i.Zombie) _result.Fail("zombie-not-fenced", $"zombie {i.Id} epoch {i.Epoch} added {topic}-{partition} to a transaction");
                i.Added.Add((topic, partition));
            }
            int seq = i.Sequences.GetValueOrDefault((topic, partition));
            var (error, offset, request) = ProduceTo(i.Id, i.ProducerId, i.Epoch, seq, topic, partition, [child]);
            if (error != ErrorCode.None) return false;
            if (i.Zombie) _result.Fail("zombie-not-fenced", $"zombie {i.Id} epoch {i.Epoch} wrote {child}");
            i.Sequences[(topic, partition)] = seq + 1;
            RecordWrite(txn, topic, partition, offset, child);
            if (_random.NextBool(_options.DelayedProduceProbability) && _delayed.Count < 100)
                _delayed.Add(new DelayedProduce(i, request, txn, child, offset, topic, partition));
            i.Pending.RemoveAt(0);
        }
        i.Round++;
        i.Phase = i.Round < 2 && _random.NextBool(0.5) ? Phase.Poll : Phase.Commit;
        return true;
    }

    private bool StepCommit(Instance i)
    {
        var txn = i.Txn!;
        var add = Call<AddOffsetsToTxnResponse>(ApiKey.AddOffsetsToTxn, 3, new AddOffsetsToTxnRequest
        {
            TransactionalId = i.Id, ProducerId = i.ProducerId, ProducerEpoch = i.Epoch, GroupId = RpwGroup,
        });
        if (add.ErrorCode != ErrorCode.None) return false;
        var oc = Call<TxnOffsetCommitResponse>(ApiKey.TxnOffsetCommit, 3, new TxnOffsetCommitRequest
        {
            TransactionalId = i.Id, GroupId = RpwGroup, ProducerId = i.ProducerId, ProducerEpoch = i.Epoch,
            Topics = [new() { Name = Ring, Partitions = [new() { PartitionIndex = i.Loop, CommittedOffset = i.Position }] }],
        });
        if (oc.Topics[0].Partitions[0].ErrorCode != ErrorCode.None) return false;
        if (i.Zombie) _result.Fail("zombie-not-fenced", $"zombie {i.Id} epoch {i.Epoch} committed offsets");
        bool commit = !_random.NextBool(_options.AbortProbability / 2);
        var request = new EndTxnRequest { TransactionalId = i.Id, ProducerId = i.ProducerId, ProducerEpoch = i.Epoch, Committed = commit };
        if (!i.Zombie && _random.NextBool(_options.CrashInEndTxnProbability / 2))
        {
            // The coordinator crashes between the prepare record and the markers (or before the prepare is durable).
            Send(ApiKey.EndTxn, 3, request);
            int syncs = _random.NextInt(0, 4);
            for (int s = 0; s < syncs; s++) CompleteSyncs(1);
            var answered = Responses<EndTxnResponse>(ApiKey.EndTxn, 3);
            txn.Outcome = answered.Count == 1 && answered[0].ErrorCode == ErrorCode.None
                ? (commit ? Outcome.Committed : Outcome.Aborted)
                : commit ? Outcome.Unknown : Outcome.Aborted;
            if (txn.Outcome == Outcome.Unknown) _result.Undecided++;
            i.Txn = null;
            CrashAll(i);
            return true;
        }
        var end = Call<EndTxnResponse>(ApiKey.EndTxn, 3, request);
        if (end.ErrorCode != ErrorCode.None) return false; // its transaction is (or will be) aborted by the coordinator
        if (i.Zombie)
        {
            _result.Fail("zombie-not-fenced", $"zombie {i.Id} epoch {i.Epoch} ended its transaction ({(commit ? "commit" : "abort")})");
            return false;
        }
        txn.Outcome = commit ? Outcome.Committed : Outcome.Aborted;
        if (!commit) i.Position = i.TxnStart; // the application seeks back to its committed offset
        i.Txn = null;
        i.Phase = Phase.Poll;
        return true;
    }

    /// <summary>Replaces loop <paramref name="loop"/>'s instance by a new one (same transactional.id), whose
    /// InitProducerId fences the old one and aborts its open transaction. The old one may carry on as a zombie.</summary>
    private void Replace(int loop, bool zombie)
    {
        var old = _loops[loop];
        if (old.Txn is { Outcome: Outcome.Open }) old.Txn.Outcome = Outcome.Aborted;
        var fresh = new Instance(loop);
        _loops[loop] = fresh;
        // The new instance initialises at once, so the zombie can only act after it was fenced.
        StepInit(fresh);
        if (zombie && fresh.ProducerId >= 0 && old.ProducerId >= 0 && old.Phase != Phase.Init && _zombies.Count < 8)
        {
            old.Zombie = true;
            _zombies.Add(old);
        }
    }

    /// <summary>A node crash: unsynced writes are lost and every loop restarts. Markers held back or owed by a
    /// prepared transaction are kept as stale markers of this coordinator epoch, delivered after the restart.</summary>
    private void CrashAll(Instance? ending)
    {
        int epoch = _node.Transactions.CoordinatorEpoch;
        foreach (var h in _node.Transactions.HeldMarkers)
        {
            string? owner = _node.Transactions.Transactions.FirstOrDefault(t => t.ProducerId == h.ProducerId)?.TransactionalId;
            if (owner is not null) _stale.Add(new StaleMarker(owner, h.ProducerId, h.ProducerEpoch, h.Commit, h.CoordinatorEpoch, [h.Partition]));
        }
        foreach (var t in _node.Transactions.Transactions)
            if (t.State is Core.Transactions.TxnState.PrepareCommit or Core.Transactions.TxnState.PrepareAbort && _stale.Count < 50)
                _stale.Add(new StaleMarker(t.TransactionalId, t.ProducerId, t.ProducerEpoch, t.State == Core.Transactions.TxnState.PrepareCommit, epoch, t.Partitions.ToList()));
        if (_node.Transactions.Transactions.Any(t => t.State is Core.Transactions.TxnState.PrepareCommit or Core.Transactions.TxnState.PrepareAbort))
            _result.CrashesBetweenPrepareAndMarkers++;
        Crash();
        _injectorPid = -1;
        _zombies.Clear();
        _delayed.Clear(); // their connections are gone
        for (int l = 0; l < _loops.Length; l++)
        {
            var i = _loops[l];
            if (i != ending && i.Txn is { Outcome: Outcome.Open }) i.Txn.Outcome = Outcome.Aborted;
            _loops[l] = new Instance(l);
        }
    }

    /// <summary>Delivers stale markers (from before a crash) through WriteTxnMarkers once their producer's later
    /// transaction wrote one of their partitions (or at the end): each must be refused, never end that transaction.</summary>
    private void DeliverStaleMarkers(bool final)
    {
        foreach (var m in _stale.ToList())
        {
            var current = _loops.FirstOrDefault(l => l.Id == m.Owner)?.Txn;
            bool bites = current is not null && current.Writes.Any(w => m.Partitions.Contains(new Core.Protocol.TopicPartition(w.Topic, w.Partition)));
            if (!final && !(bites && _random.NextBool(0.5))) continue;
            _stale.Remove(m);
            _node.Transactions.HoldMarker = null; // the delayed marker itself arrives now
            var r = Call<WriteTxnMarkersResponse>(ApiKey.WriteTxnMarkers, 1, new WriteTxnMarkersRequest
            {
                Markers = [new()
                {
                    ProducerId = m.ProducerId, ProducerEpoch = m.ProducerEpoch, TransactionResult = m.Commit, CoordinatorEpoch = m.CoordinatorEpoch,
                    Topics = m.Partitions.GroupBy(p => p.Topic).Select(g => new WriteTxnMarkersRequest.WritableTxnMarkerTopic { Name = g.Key, PartitionIndexes = g.Select(p => p.Partition).ToList() }).ToList(),
                }],
            });
            foreach (var t in r.Markers.SelectMany(x => x.Topics))
                foreach (var p in t.Partitions)
                    if (p.ErrorCode == ErrorCode.None)
                        _result.Fail("delayed-marker-applied", $"a {(m.Commit ? "commit" : "abort")} marker of {m.Owner} from coordinator epoch {m.CoordinatorEpoch} (producer epoch {m.ProducerEpoch}) was written to {t.Name}-{p.PartitionIndex} after a restart");
            _node.Transactions.HoldMarker = _holdMarker;
            _result.StaleMarkersDelivered++;
        }
    }

    private void DeliverDelayed(DelayedProduce d)
    {
        _delayed.Remove(d);
        var r = Call<ProduceResponse>(ApiKey.Produce, 8, d.Request).Responses[0].PartitionResponses[0];
        if (r.ErrorCode == ErrorCode.None && r.BaseOffset != d.OriginalOffset)
            RecordWrite(d.Txn, d.Topic, d.Partition, r.BaseOffset, d.Value); // written again: the checks judge it
        else _result.LateProducesRefused++;
    }

    private (ErrorCode Error, long Offset, ProduceRequest Request) ProduceTo(string id, long pid, short epoch, int seq, string topic, int partition, List<string> values)
    {
        var records = values.Select(v => new SimpleRecord(null, System.Text.Encoding.UTF8.GetBytes(v), _clock.WallClockMs)).ToList();
        var batch = RecordBatchBuilder.Build(records, producerId: pid, producerEpoch: epoch, baseSequence: seq, isTransactional: true);
        var request = new ProduceRequest
        {
            TransactionalId = id, Acks = -1, TimeoutMs = 5000,
            TopicData = [new() { Name = topic, PartitionData = [new() { Index = partition, Records = batch }] }],
        };
        var r = Call<ProduceResponse>(ApiKey.Produce, 8, request).Responses[0].PartitionResponses[0];
        return (r.ErrorCode, r.BaseOffset, request);
    }

    /// <summary>One read_committed fetch from <paramref name="offset"/>: the values a consumer gets, with offsets,
    /// and the offset to fetch next. Recorded as a view (for G1b) and checked against the LSO it reported.</summary>
    private (List<(string Value, long Offset)> Records, long Next) FetchOnce(string topic, int partition, long offset)
    {
        var f = Call<FetchResponse>(ApiKey.Fetch, 11, new FetchRequest
        {
            MaxWaitMs = 0, MinBytes = 0, IsolationLevel = 1,
            Topics = [new() { Topic = topic, Partitions = [new() { Partition = partition, FetchOffset = offset, PartitionMaxBytes = 1 << 20 }] }],
        }).Responses[0].Partitions[0];
        var records = new List<(string, long)>();
        if (f.ErrorCode != ErrorCode.None) return (records, offset);
        long next = Math.Max(offset, ConsumeBatches(f.Records?.ToArray() ?? [], f, $"{topic}-{partition}", offset, records));
        if (records.Count > 0) _views.Add(new FetchView(topic, partition, f.LastStableOffset, records.Select(r => r.Item1).ToList()));
        return (records, next);
    }

    private List<(string Value, long Offset)> ReadPartitionToEnd(string topic, int partition)
    {
        var all = new List<(string, long)>();
        long offset = 0;
        for (int round = 0; round < 1000; round++)
        {
            var (records, next) = FetchOnce(topic, partition, offset);
            all.AddRange(records);
            if (next <= offset) break;
            offset = next;
        }
        return all;
    }

    // ---- the checks -------------------------------------------------------------------------------------------------

    private static string Lineage(string value) => value[..value.LastIndexOf('/')]; // "<lineage>/<hop>"
    private static string ChildLineage(string value)
    {
        var parts = value.Split('/');
        return $"{parts[0]}/{int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture) + 1}";
    }
    private static int HopOf(string value) => int.Parse(value.Split('/')[1], System.Globalization.CultureInfo.InvariantCulture);

    private void CheckReadProcessWrite()
    {
        var visible = new List<(string Topic, int Partition, long Offset, string Value)>();
        foreach (var topic in new[] { Ring, Sink })
            for (int p = 0; p < RingPartitions; p++)
                visible.AddRange(ReadPartitionToEnd(topic, p).Select(r => (topic, p, r.Offset, r.Value)));
        var counts = visible.GroupBy(v => v.Value, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);

        // Transactions whose EndTxn crashed were decided by recovery: see which way from what is visible.
        foreach (var t in _history)
            if (t.Outcome == Outcome.Unknown) t.Outcome = t.Writes.Any(w => counts.ContainsKey(w.Value)) ? Outcome.Committed : Outcome.Aborted;
            else if (t.Outcome == Outcome.Open) t.Outcome = Outcome.Aborted; // cannot remain: the last instances fenced them

        foreach (var (v, c) in counts)
            if (c > 1) _result.Fail("duplicate", $"{v} is visible {c} times");
        foreach (var t in _history)
        {
            if (t.Writes.Count == 0) continue;
            int seen = t.Writes.Select(w => w.Value).Distinct(StringComparer.Ordinal).Count(counts.ContainsKey);
            int all = t.Writes.Select(w => w.Value).Distinct(StringComparer.Ordinal).Count();
            if (t.Outcome == Outcome.Aborted && seen > 0)
                _result.Fail("G1a", $"aborted transaction {t.Index} of {t.Owner}: {seen} of its writes are visible at read_committed");
            if (t.Outcome == Outcome.Committed && seen < all)
                _result.Fail(seen == 0 ? "lost-write" : "torn-transaction", $"committed transaction {t.Index} of {t.Owner}: {seen} of {all} writes visible");
        }
        // G1a: a committed transaction read (and acted on) a value written by an aborted one.
        foreach (var t in _history.Where(t => t.Outcome == Outcome.Committed))
            foreach (var v in t.Reads)
                if (_rWriter.TryGetValue(v, out var w) && w.Outcome == Outcome.Aborted)
                    _result.Fail("G1a", $"committed transaction {t.Index} of {t.Owner} read {v} of aborted transaction {w.Index}");

        // G1b (intermediate read): a read_committed read returned a write of transaction T in a partition, and
        // not all of T's writes there are committed in the end: the reader saw a state of T that was not its
        // final one (Kafka: a returned record implies T committed with its marker durable, so all of T's writes
        // in that partition become readable; the LSO may hold some back behind another open transaction, which
        // is no anomaly, so only what is visible in the end counts).
        foreach (var view in _views)
            foreach (var v in view.Values)
                if (_rWriter.TryGetValue(v, out var w) && w.Writes.FirstOrDefault(x => x.Topic == view.Topic && x.Partition == view.Partition && !counts.ContainsKey(x.Value)) is { Value: not null } missing)
                {
                    _result.Fail("G1b", $"a read of {view.Topic}-{view.Partition} saw {v} of transaction {w.Index} ({w.Outcome}), whose write {missing.Value} there at {missing.Offset} is not committed in the end");
                    break;
                }

        CheckExactlyOnce(visible, counts);
        CheckCycles(visible);
    }

    /// <summary>Every committed ring record below its partition's committed group offset has exactly one committed
    /// child (in the ring or the sink), every one at or above it none; every committed child has a committed parent.</summary>
    private void CheckExactlyOnce(List<(string Topic, int Partition, long Offset, string Value)> visible, Dictionary<string, int> counts)
    {
        var r = Call<OffsetFetchResponse>(ApiKey.OffsetFetch, 7, new OffsetFetchRequest
        {
            GroupId = RpwGroup, Topics = [new() { Name = Ring, PartitionIndexes = Enumerable.Range(0, RingPartitions).ToList() }],
        });
        var committed = r.Topics[0].Partitions.ToDictionary(p => p.PartitionIndex, p => Math.Max(0, p.CommittedOffset));
        var children = visible.Where(v => HopOf(v.Value) > 0).GroupBy(v => Lineage(v.Value), StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var lineages = visible.Select(v => Lineage(v.Value)).ToHashSet(StringComparer.Ordinal);
        foreach (var v in visible.Where(v => v.Topic == Ring))
        {
            int expected = v.Offset < committed.GetValueOrDefault(v.Partition) ? 1 : 0;
            int got = children.GetValueOrDefault(ChildLineage(v.Value));
            if (got != expected)
                _result.Fail("output-not-exactly-once", $"{v.Value} at {v.Topic}-{v.Partition}@{v.Offset} (group offset {committed.GetValueOrDefault(v.Partition)}) has {got} committed outputs, expected {expected}");
            else if (expected == 1) _result.ExactlyOnceOutputs++;
        }
        foreach (var v in visible.Where(v => HopOf(v.Value) > 0))
        {
            var parts = v.Value.Split('/');
            string parent = $"{parts[0]}/{HopOf(v.Value) - 1}";
            if (!lineages.Contains(parent))
                _result.Fail("output-not-exactly-once", $"{v.Value} is committed but its input {parent} is not");
        }
    }

    /// <summary>G0 and G1c over committed transactions. wr: a transaction read a value another wrote. ww: in a
    /// partition's committed order, a write directly followed by the next write of another transaction of the
    /// same transactional.id (Kafka does not isolate concurrent producers' writes, and Jepsen allows G0 between
    /// them; the transactions of one id the protocol serialises, so their order must agree in every partition).</summary>
    private void CheckCycles(List<(string Topic, int Partition, long Offset, string Value)> visible)
    {
        var committed = _history.Where(t => t.Outcome == Outcome.Committed).ToList();
        var node = committed.Select((t, n) => (t, n)).ToDictionary(x => x.t, x => x.n);
        var graph = new DependencyGraph(committed.Count);
        foreach (var g in visible.GroupBy(v => (v.Topic, v.Partition)))
        {
            var writers = g.OrderBy(v => v.Offset).Select(v => _rWriter.GetValueOrDefault(v.Value)).Where(w => w is not null && node.ContainsKey(w)).ToList();
            foreach (var byOwner in writers.GroupBy(w => w!.Owner))
            {
                RTxn? prev = null;
                foreach (var w in byOwner)
                {
                    if (prev is not null && prev != w) graph.Add(node[prev], node[w!], DependencyGraph.WriteWrite);
                    prev = w;
                }
            }
        }
        foreach (var t in committed)
            foreach (var v in t.Reads)
                if (_rWriter.TryGetValue(v, out var w) && node.TryGetValue(w, out int from) && w != t)
                    graph.Add(from, node[t], DependencyGraph.WriteRead);
        graph.Freeze();
        foreach (var c in graph.Components(DependencyGraph.WriteWrite, out _))
            _result.Fail("G0", $"write cycle among committed transactions {string.Join(", ", c.Select(n => $"{committed[n].Index} ({committed[n].Owner})"))}");
        var components = graph.Components(DependencyGraph.Any, out var componentOf);
        for (int k = 0; k < components.Count; k++)
            if (graph.InternalEdge(components[k], componentOf, componentOf[components[k][0]], DependencyGraph.WriteRead) is not null)
                _result.Fail("G1c", $"information flows in a cycle among committed transactions {string.Join(", ", components[k].Select(n => $"{committed[n].Index} ({committed[n].Owner})"))}");
    }
}
