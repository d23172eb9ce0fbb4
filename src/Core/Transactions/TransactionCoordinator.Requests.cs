using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Groups;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

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
            long pid;
            try
            {
                pid = _broker.AllocateProducerId();
            }
            catch (StorageException e)
            {
                _broker.Log.Error("InitProducerId: could not take a producer id block: {Error}", e.Message);
                Answer(ErrorCode.KafkaStorageError);
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
            try
            {
                newPid = _broker.AllocateProducerId();
            }
            catch (StorageException e)
            {
                _broker.Log.Error("InitProducerId: could not take a producer id block: {Error}", e.Message);
                Answer(ErrorCode.KafkaStorageError);
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

    public void EndTransaction(RequestContext request, EndTxnRequest end)
    {
        var reply = new PendingReply(request);
        var response = new EndTxnResponse();
        void Answer(ErrorCode e)
        {
            response.ErrorCode = e;
            reply.Respond(response);
        }
        var error = CheckCoordinator(end.TransactionalId);
        var txn = error == ErrorCode.None ? _txns.GetValueOrDefault(end.TransactionalId) : null;
        if (error != ErrorCode.None)
        {
            Answer(error);
            return;
        }
        if (txn is null || txn.ProducerId != end.ProducerId)
        {
            Answer(ErrorCode.InvalidProducerIdMapping);
            return;
        }
        if (end.ProducerEpoch != txn.ProducerEpoch)
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
                var target = txn.ToRecord() with { State = commit ? TxnState.PrepareCommit : TxnState.PrepareAbort, LastUpdateTimestampMs = WallNow };
                WriteState(txn, target, e =>
                {
                    // The decision is durable: answer, then make it visible with the markers.
                    Answer(e);
                    if (e == ErrorCode.None) WriteMarkersAndComplete(txn);
                });
                return;
            case TxnState.CompleteCommit:
                Answer(commit ? ErrorCode.None : ErrorCode.InvalidTxnState); // a retried commit is answered again
                return;
            case TxnState.CompleteAbort:
                Answer(commit ? ErrorCode.InvalidTxnState : ErrorCode.None);
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
