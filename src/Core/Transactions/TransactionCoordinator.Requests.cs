using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Groups;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Util;

namespace DetKafka.Core.Transactions;

// InitProducerId (with a transactional id), AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, DescribeTransactions,
// ListTransactions. Every answer that changes state is sent once the state record is durable.
public sealed partial class TransactionCoordinator
{
    /// <summary>KIP-588: PRODUCER_FENCED exists from these versions on; older ones get INVALID_PRODUCER_EPOCH.</summary>
    private static ErrorCode Fenced(bool newEnough) => newEnough ? ErrorCode.ProducerFenced : ErrorCode.InvalidProducerEpoch;

    /// <summary>The checks every request of a producer within its transaction shares (Kafka's order).</summary>
    private ErrorCode CheckProducer(TransactionMetadata? txn, long producerId, short epoch, bool fencedErrorExists)
    {
        if (txn is null) return ErrorCode.InvalidProducerIdMapping;
        if (txn.ProducerId != producerId) return ErrorCode.InvalidProducerIdMapping;
        if (epoch != txn.ProducerEpoch) return Fenced(fencedErrorExists);
        if (txn.PendingWrite || txn.State is TxnState.PrepareCommit or TxnState.PrepareAbort or TxnState.PrepareEpochFence)
            return ErrorCode.ConcurrentTransactions;
        return ErrorCode.None;
    }

    /// <summary>How long (in 10 ms steps) a request waits for the id's previous transaction to finish its markers
    /// before it is answered CONCURRENT_TRANSACTIONS. Kafka answers at once and clients retry, but kafkajs does
    /// not retry AddOffsetsToTxn, and here markers wait for an fsync, so the window is wider than Kafka's.</summary>
    private const int BusyRetriesMax = 500;

    private static bool IsBusy(TransactionMetadata txn)
        => txn.PendingWrite || txn.State is TxnState.PrepareCommit or TxnState.PrepareAbort or TxnState.PrepareEpochFence;

    /// <summary>Re-runs <paramref name="retry"/> in 10 ms when the id is busy with its previous transaction and the
    /// request may wait; false when it should be answered now.</summary>
    private bool Defer(TransactionMetadata? txn, RequestContext request, int attempt, Action<int> retry)
    {
        if (txn is null || !IsBusy(txn) || attempt >= BusyRetriesMax) return false;
        int generation = request.Generation;
        _broker.Timers.Schedule(Now + 10, () =>
        {
            // A closed connection's request is never answered: nobody waits for it.
            if (request.IsConnectionOpen && request.Generation == generation) retry(attempt + 1);
        });
        return true;
    }

    // ---- InitProducerId -------------------------------------------------------------------------------------------

    public void InitProducerId(RequestContext request, InitProducerIdRequest init, int attempt = 0)
    {
        var reply = new PendingReply(request);
        var response = new InitProducerIdResponse();
        void Answer(ErrorCode error, long pid = -1, short epoch = -1)
        {
            response.ErrorCode = error;
            response.ProducerId = error == ErrorCode.None ? pid : -1;
            response.ProducerEpoch = error == ErrorCode.None ? epoch : (short)-1;
            reply.Respond(response);
        }
        string id = init.TransactionalId!;
        var error = CheckCoordinator(id);
        if (error != ErrorCode.None)
        {
            Answer(error);
            return;
        }
        if (init.TransactionTimeoutMs <= 0 || init.TransactionTimeoutMs > Config.TransactionMaxTimeoutMs)
        {
            Answer(ErrorCode.InvalidTransactionTimeout);
            return;
        }
        var txn = _txns.GetValueOrDefault(id);
        if (txn is null)
        {
            if (_txns.Count >= TransactionalIdsMax)
            {
                Answer(ErrorCode.CoordinatorNotAvailable);
                return;
            }
            // In a quorum a node without a producer id block gets one from the controller and answers
            // COORDINATOR_LOAD_IN_PROGRESS meanwhile (BrokerNode.ProducerIds.cs): the client retries.
            var allocated = _broker.TryAllocateProducerId(out long pid);
            if (allocated != ErrorCode.None)
            {
                Answer(allocated);
                return;
            }
            txn = GetOrCreate(id);
            var first = new TxnRecord(pid, 0, init.TransactionTimeoutMs, TxnState.Empty, [], WallNow, -1);
            WriteState(txn, first, e =>
            {
                if (e != ErrorCode.None && txn.ProducerId < 0) _txns.Remove(id);
                Answer(e, txn.ProducerId, txn.ProducerEpoch);
            });
            return;
        }
        if (Defer(txn, request, attempt, a => InitProducerId(request, init, a))) return;
        if (IsBusy(txn))
        {
            Answer(ErrorCode.ConcurrentTransactions);
            return;
        }
        if (request.Version >= 3 && init.ProducerId >= 0)
        {
            // KIP-360: a producer recovering names its id and epoch; only the current one, or the one the
            // coordinator itself fenced (timeout, a bumped abort), may do that.
            bool current = init.ProducerId == txn.ProducerId &&
                           (init.ProducerEpoch == txn.ProducerEpoch || (txn.LastProducerEpoch >= 0 && init.ProducerEpoch == txn.LastProducerEpoch));
            if (!current)
            {
                Answer(Fenced(request.Version >= 4));
                return;
            }
        }
        if (txn.State == TxnState.Ongoing)
        {
            // A new instance of the producer: fence the old one and abort what it left open, then carry on as a
            // retry would (Kafka answers CONCURRENT_TRANSACTIONS and lets the client retry).
            FenceAndAbort(txn, _ => { });
            if (!Defer(txn, request, attempt, a => InitProducerId(request, init, a))) Answer(ErrorCode.ConcurrentTransactions);
            return;
        }
        long newPid = txn.ProducerId;
        short newEpoch = (short)(txn.ProducerEpoch + 1);
        if (txn.ProducerEpoch >= EpochMax)
        {
            var allocated = _broker.TryAllocateProducerId(out newPid);
            if (allocated != ErrorCode.None)
            {
                Answer(allocated);
                return;
            }
            newEpoch = 0;
        }
        var target = txn.ToRecord() with
        {
            ProducerId = newPid,
            ProducerEpoch = newEpoch,
            TimeoutMs = init.TransactionTimeoutMs,
            State = TxnState.Empty,
            Partitions = [],
            LastUpdateTimestampMs = WallNow,
            StartTimestampMs = -1,
            PreviousProducerId = newPid != txn.ProducerId ? txn.ProducerId : txn.PreviousProducerId,
            NextProducerId = -1,
            // The new instance says at its first EndTxn whether it bumps per transaction.
            ClientTransactionVersion = 0,
        };
        WriteState(txn, target, e =>
        {
            if (e == ErrorCode.None) txn.LastProducerEpoch = -1;
            Answer(e, txn.ProducerId, txn.ProducerEpoch);
        });
    }

    // ---- AddPartitionsToTxn / AddOffsetsToTxn ----------------------------------------------------------------------

    public void AddPartitions(RequestContext request, AddPartitionsToTxnRequest add, int attempt = 0)
    {
        var reply = new PendingReply(request);
        var response = new AddPartitionsToTxnResponse();
        var answers = new List<(TopicPartition Tp, AddPartitionsToTxnResponse.AddPartitionsToTxnPartitionResult Result)>();
        foreach (var t in add.Topics)
        {
            var topic = new AddPartitionsToTxnResponse.AddPartitionsToTxnTopicResult { Name = t.Name };
            response.Results.Add(topic);
            foreach (int p in t.Partitions)
            {
                var r = new AddPartitionsToTxnResponse.AddPartitionsToTxnPartitionResult { PartitionIndex = p };
                topic.Results.Add(r);
                answers.Add((new TopicPartition(t.Name, p), r));
            }
        }
        void AnswerAll(ErrorCode e)
        {
            foreach (var (_, r) in answers) r.ErrorCode = e;
            reply.Respond(response);
        }
        var error = CheckCoordinator(add.TransactionalId);
        var txn = error == ErrorCode.None ? _txns.GetValueOrDefault(add.TransactionalId) : null;
        if (txn is not null && txn.ProducerId == add.ProducerId && txn.ProducerEpoch == add.ProducerEpoch &&
            Defer(txn, request, attempt, a => AddPartitions(request, add, a))) return;
        if (error == ErrorCode.None) error = CheckProducer(txn, add.ProducerId, add.ProducerEpoch, request.Version >= 2);
        if (error != ErrorCode.None)
        {
            AnswerAll(error);
            return;
        }
        // Unknown partitions (and internal topics a client may not write) fail the whole request, as in Kafka.
        bool anyBad = false;
        foreach (var (tp, r) in answers)
        {
            if (GroupRecords.IsInternalTopic(tp.Topic) || _broker.FindLog(tp.Topic, tp.Partition) is null)
            {
                r.ErrorCode = ErrorCode.UnknownTopicOrPartition;
                anyBad = true;
            }
        }
        if (anyBad)
        {
            foreach (var (_, r) in answers)
                if (r.ErrorCode == ErrorCode.None) r.ErrorCode = ErrorCode.OperationNotAttempted;
            reply.Respond(response);
            return;
        }
        AddToTransaction(txn!, answers.Select(a => a.Tp).ToList(), AnswerAll);
    }

    public void AddOffsets(RequestContext request, AddOffsetsToTxnRequest add, int attempt = 0)
    {
        var reply = new PendingReply(request);
        var response = new AddOffsetsToTxnResponse();
        void Answer(ErrorCode e)
        {
            response.ErrorCode = e;
            reply.Respond(response);
        }
        var error = CheckCoordinator(add.TransactionalId);
        var txn = error == ErrorCode.None ? _txns.GetValueOrDefault(add.TransactionalId) : null;
        if (txn is not null && txn.ProducerId == add.ProducerId && txn.ProducerEpoch == add.ProducerEpoch &&
            Defer(txn, request, attempt, a => AddOffsets(request, add, a))) return;
        if (error == ErrorCode.None) error = CheckProducer(txn, add.ProducerId, add.ProducerEpoch, request.Version >= 2);
        if (error == ErrorCode.None && string.IsNullOrEmpty(add.GroupId)) error = ErrorCode.InvalidGroupId;
        if (error == ErrorCode.None && _broker.Groups.EnsureOffsetsTopic() != ErrorCode.None) error = ErrorCode.CoordinatorNotAvailable;
        if (error != ErrorCode.None)
        {
            Answer(error);
            return;
        }
        var tp = new TopicPartition(GroupRecords.OffsetsTopic, _broker.Groups.PartitionFor(add.GroupId));
        AddToTransaction(txn!, [tp], Answer);
    }

    private void AddToTransaction(TransactionMetadata txn, List<TopicPartition> partitions, Action<ErrorCode> done)
    {
        if (txn.State == TxnState.Ongoing && partitions.All(txn.Partitions.Contains))
        {
            done(ErrorCode.None);
            return;
        }
        var all = new SortedSet<TopicPartition>(txn.State == TxnState.Ongoing ? txn.Partitions : []);
        all.UnionWith(partitions);
        long wall = WallNow;
        var target = txn.ToRecord() with
        {
            State = TxnState.Ongoing,
            Partitions = all.ToList(),
            LastUpdateTimestampMs = wall,
            StartTimestampMs = txn.State == TxnState.Ongoing ? txn.StartTimestampMs : wall,
        };
        WriteState(txn, target, done);
    }

    // ---- EndTxn --------------------------------------------------------------------------------------------------------

    /// <summary>
    /// EndTxn. At v5 (KIP-890 part 2, transaction version 2) the prepare bumps the producer epoch (a new producer
    /// id once the epoch is exhausted), the markers carry the bumped epoch and the answer names it, so the
    /// client's next transaction runs at an epoch a delayed EndTxn of this one cannot match. The checks follow
    /// Kafka's TransactionCoordinator.endTransaction: for an id whose last EndTxn bumped, a request at the current
    /// epoch is a new EndTxn (valid only while Ongoing), one at the epoch before the bump is a retry of the
    /// last EndTxn (valid only while that transaction is Prepare* or Complete*), anything else is fenced.
    /// Below v5 the epoch must equal the current one and is never bumped (clients that do not know the bump).
    /// </summary>
    public void EndTransaction(RequestContext request, EndTxnRequest end)
    {
        var reply = new PendingReply(request);
        var response = new EndTxnResponse();
        void Answer(ErrorCode e, long pid = -1, short epoch = -1)
        {
            response.ErrorCode = e;
            // v5+: the id and epoch for the next transaction (Kafka sends -1/-1 with an error).
            response.ProducerId = e == ErrorCode.None ? pid : -1;
            response.ProducerEpoch = e == ErrorCode.None ? epoch : (short)-1;
            reply.Respond(response);
        }
        var error = CheckCoordinator(end.TransactionalId);
        var txn = error == ErrorCode.None ? _txns.GetValueOrDefault(end.TransactionalId) : null;
        if (error != ErrorCode.None)
        {
            Answer(error);
            return;
        }
        if (txn is null)
        {
            Answer(ErrorCode.InvalidProducerIdMapping);
            return;
        }
        // Planted bug (test-only): v5 is served as v4, no bump, so a delayed EndTxn can end a later transaction.
        bool bump = request.Version >= 5 && (Faults & TransactionFaults.SkipEndTxnEpochBump) == 0;
        bool bumped = txn.BumpsEpochPerTransaction;
        // The last EndTxn exhausted the epoch and moved the id to a new producer id at epoch 0; this is its retry.
        bool retryOnOverflow = bumped && txn.PreviousProducerId == end.ProducerId && end.ProducerEpoch == EpochMax && txn.ProducerEpoch == 0;
        // The last EndTxn bumped the epoch; this request carries the epoch before the bump: its retry.
        bool retryOnBump = bumped && txn.ProducerEpoch == end.ProducerEpoch + 1;
        bool validEpoch = !bumped
            ? end.ProducerEpoch == txn.ProducerEpoch
            : txn.State switch
            {
                TxnState.PrepareCommit or TxnState.PrepareAbort => retryOnBump,
                TxnState.CompleteCommit or TxnState.CompleteAbort => retryOnBump || retryOnOverflow,
                _ => end.ProducerEpoch == txn.ProducerEpoch,
            };
        if (txn.ProducerId != end.ProducerId && !retryOnOverflow)
        {
            Answer(ErrorCode.InvalidProducerIdMapping);
            return;
        }
        if (!validEpoch)
        {
            Answer(Fenced(request.Version >= 2));
            return;
        }
        if (txn.PendingWrite)
        {
            Answer(ErrorCode.ConcurrentTransactions);
            return;
        }
        bool commit = end.Committed;
        switch (txn.State)
        {
            case TxnState.Ongoing:
                var target = txn.ToRecord() with
                {
                    State = commit ? TxnState.PrepareCommit : TxnState.PrepareAbort,
                    LastUpdateTimestampMs = WallNow,
                    ClientTransactionVersion = bump ? (short)2 : (short)0,
                    NextProducerId = -1,
                };
                short before = txn.ProducerEpoch;
                Check.That(before < short.MaxValue, "an Ongoing transaction's epoch leaves room for its bump");
                if (bump)
                {
                    // The markers of this transaction carry the bumped epoch. An epoch at its largest gets one more
                    // (short.MaxValue, only ever used by these markers) and the id moves to a new producer id at
                    // epoch 0 once they are written (Kafka's nextProducerId).
                    if (before >= EpochMax)
                    {
                        try
                        {
                            target = target with { NextProducerId = _broker.AllocateProducerId() };
                        }
                        catch (StorageException e)
                        {
                            _broker.Log.Error("EndTxn: could not take a producer id block: {Error}", e.Message);
                            Answer(ErrorCode.KafkaStorageError);
                            return;
                        }
                    }
                    target = target with { ProducerEpoch = (short)(before + 1) };
                }
                WriteState(txn, target, e =>
                {
                    if (e == ErrorCode.None && bump) txn.LastProducerEpoch = before; // KIP-360 recovery from the old epoch
                    // The decision is durable: answer, then make it visible with the markers.
                    var (pid, epoch) = NextTransactionProducer(txn);
                    Answer(e, pid, epoch);
                    if (e == ErrorCode.None) WriteMarkersAndComplete(txn);
                });
                return;
            case TxnState.CompleteCommit:
            case TxnState.CompleteAbort:
                // A retried EndTxn of the transaction that ended is answered again (with the id and epoch it got).
                bool same = (txn.State == TxnState.CompleteCommit) == commit;
                Answer(same ? ErrorCode.None : ErrorCode.InvalidTxnState, txn.ProducerId, txn.ProducerEpoch);
                return;
            case TxnState.PrepareCommit:
            case TxnState.PrepareAbort:
                Answer((txn.State == TxnState.PrepareCommit) == commit ? ErrorCode.ConcurrentTransactions : ErrorCode.InvalidTxnState);
                return;
            default:
                Answer(ErrorCode.InvalidTxnState);
                return;
        }
    }

    /// <summary>The producer id and epoch the client's next transaction uses: the new id at epoch 0 when this
    /// transaction exhausted the epoch, else the current ones.</summary>
    private static (long ProducerId, short Epoch) NextTransactionProducer(TransactionMetadata txn)
        => txn.NextProducerId >= 0 ? (txn.NextProducerId, (short)0) : (txn.ProducerId, txn.ProducerEpoch);

    // ---- DescribeTransactions / ListTransactions -------------------------------------------------------------------------

    public DescribeTransactionsResponse.TransactionStateEntry Describe(string transactionalId)
    {
        var entry = new DescribeTransactionsResponse.TransactionStateEntry { TransactionalId = transactionalId, State = "" };
        var error = CheckCoordinator(transactionalId, create: false);
        if (error == ErrorCode.CoordinatorNotAvailable && _broker.FindTopic(TransactionRecords.StateTopic) is null) error = ErrorCode.TransactionalIdNotFound;
        var txn = error == ErrorCode.None ? _txns.GetValueOrDefault(transactionalId) : null;
        if (error == ErrorCode.None && txn is null) error = ErrorCode.TransactionalIdNotFound;
        if (error != ErrorCode.None)
        {
            entry.ErrorCode = error;
            return entry;
        }
        entry.State = TransactionMetadata.StateName(txn!.State);
        entry.TransactionTimeoutMs = txn.TimeoutMs;
        entry.TransactionStartTimeMs = txn.StartTimestampMs;
        entry.ProducerId = txn.ProducerId;
        entry.ProducerEpoch = txn.ProducerEpoch;
        foreach (var tp in txn.Partitions)
        {
            if (entry.Topics.Count == 0 || entry.Topics[^1].Topic != tp.Topic)
                entry.Topics.Add(new DescribeTransactionsResponse.TopicData { Topic = tp.Topic });
            entry.Topics[^1].Partitions.Add(tp.Partition);
        }
        return entry;
    }

    public ListTransactionsResponse List(ListTransactionsRequest list)
    {
        var response = new ListTransactionsResponse();
        var states = new HashSet<TxnState>();
        foreach (var name in list.StateFilters)
        {
            if (Enum.TryParse<TxnState>(name, ignoreCase: false, out var s) && Enum.IsDefined(s)) states.Add(s);
            else response.UnknownStateFilters.Add(name);
        }
        var pids = new HashSet<long>(list.ProducerIdFilters);
        long wall = WallNow;
        foreach (var txn in _txns.Values)
        {
            if (txn.State == TxnState.Dead) continue;
            if (states.Count > 0 && !states.Contains(txn.State)) continue;
            if (pids.Count > 0 && !pids.Contains(txn.ProducerId)) continue;
            // KIP-994: only transactions running longer than the filter (Ongoing ones with a start time).
            if (list.DurationFilter >= 0 && (txn.StartTimestampMs < 0 || wall - txn.StartTimestampMs < list.DurationFilter)) continue;
            response.TransactionStates.Add(new ListTransactionsResponse.TransactionStateEntry
            {
                TransactionalId = txn.TransactionalId,
                ProducerId = txn.ProducerId,
                State = TransactionMetadata.StateName(txn.State),
            });
        }
        return response;
    }
}
