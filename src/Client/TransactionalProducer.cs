using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Records;
using DetKafka.Core.Util;

namespace DetKafka.Core.Client;

/// <summary>Settings of <see cref="TransactionalProducer"/>, named after the Java producer's configs.</summary>
public sealed record TransactionalProducerOptions
{
    /// <summary>transactional.id: one id per logical producer; a new instance with the same id fences the old.</summary>
    public required string TransactionalId { get; init; }

    /// <summary>transaction.timeout.ms: the coordinator aborts (and fences) a transaction open longer than this.</summary>
    public int TransactionTimeoutMs { get; init; } = 60_000;

    /// <summary>retry.backoff.ms: the pause before a retriable step is tried again.</summary>
    public int RetryBackoffMs { get; init; } = 100;

    /// <summary>Records one transaction holds at most (the buffer is sent at commit).</summary>
    public int TransactionRecordsMax { get; init; } = 10_000;

    /// <summary>How many times one step (a request) is retried before the transaction fails (abortable).</summary>
    public int StepRetriesMax { get; init; } = 200;
}

/// <summary>Where a <see cref="TransactionalProducer"/> is: Kafka's TransactionManager states, flattened.
/// <see cref="NeedsAbort"/>: the transaction failed and must be aborted; <see cref="Fenced"/>: a newer instance
/// (or a timeout) fenced this one, which can do nothing more (Kafka: fatal).</summary>
public enum TransactionalProducerState { Uninitialized, Initializing, Ready, InTransaction, Committing, Aborting, NeedsAbort, Fenced }

/// <summary>
/// A transactional producer over <see cref="KafkaClient"/> (Kafka's KafkaProducer with a TransactionManager):
/// InitTransactions (FindCoordinator key type 1, InitProducerId), BeginTransaction, Send, SendOffsetsToTransaction,
/// CommitTransaction, AbortTransaction. Differs from Kafka's producer in one way that keeps it small: records are
/// buffered and sent at commit (AddPartitionsToTxn for all of them, then one idempotent transactional batch per
/// partition, retried with the same sequence until answered), not streamed while the transaction is open. Every
/// step is retried on retriable errors (CONCURRENT_TRANSACTIONS, NOT_COORDINATOR, timeouts, lost connections);
/// PRODUCER_FENCED / INVALID_PRODUCER_EPOCH make it <see cref="TransactionalProducerState.Fenced"/>. EndTxn at v5
/// (KIP-890 part 2): every transaction ends with an epoch bump, and the next runs under the epoch the answer names.
/// A pure state machine: it acts in <see cref="Poll"/> and in the client's callbacks.
/// </summary>
public sealed class TransactionalProducer : IClientComponent
{
    private readonly KafkaClient _client;
    private readonly List<(long DueMs, Action Action)> _retries = new();
    private readonly SortedDictionary<TopicPartition, List<SimpleRecord>> _buffer = new(TopicPartitionComparer.Instance);
    private readonly Dictionary<TopicPartition, int> _sequences = new();

    /// <summary>Partitions with a produce sent and no success answer yet: the broker may hold that batch (its answer
    /// was lost) under a sequence this producer would send again. A transaction aborted with any of them pending ends
    /// with an epoch bump (KIP-360), which resets every sequence, so a later transaction's batch is never taken for a
    /// duplicate of the aborted one's and acknowledged at its offset (the swarm's seed 18 of TransactionalSwarmTests:
    /// a committed value "written" at the offset of an aborted batch, so lost).</summary>
    private readonly SortedSet<TopicPartition> _unresolved = new(TopicPartitionComparer.Instance);
    private readonly Dictionary<TopicPartition, long> _committedOffsets = new();
    private (string Group, Dictionary<TopicPartition, long> Offsets)? _offsets;
    private int _coordinator = -1;
    private bool _coordinatorTouched;
    private int _buffered;
    private int _generation;

    public TransactionalProducer(KafkaClient client, TransactionalProducerOptions options)
    {
        Check.That(!string.IsNullOrEmpty(options.TransactionalId), "a transactional producer needs a transactional.id");
        Check.That(options.TransactionTimeoutMs > 0 && options.RetryBackoffMs > 0 && options.TransactionRecordsMax > 0);
        _client = client;
        Options = options;
        client.Register(this);
    }

    public TransactionalProducerOptions Options { get; }
    public TransactionalProducerState State { get; private set; } = TransactionalProducerState.Uninitialized;
    public long ProducerId { get; private set; } = -1;
    public short ProducerEpoch { get; private set; } = -1;

    /// <summary>Whether an EndTxn(commit) of the open (or last) transaction was sent. While false, no correct
    /// coordinator can have committed it (only the abort, a fence or a timeout can end it), whatever its errors.</summary>
    public bool CommitRequested { get; private set; }

    /// <summary>The error that last failed a step (None when none).</summary>
    public ErrorCode LastError { get; private set; }

    /// <summary>After a commit: the base offset of each partition's batch of that transaction.</summary>
    public IReadOnlyDictionary<TopicPartition, long> LastBatchOffsets => _committedOffsets;

    public long NextDeadlineMs
    {
        get
        {
            long next = long.MaxValue;
            foreach (var (due, _) in _retries) next = Math.Min(next, due);
            return next;
        }
    }

    public void Poll(long nowMs)
    {
        for (int round = 0; round < 1000; round++)
        {
            int i = _retries.FindIndex(r => r.DueMs <= nowMs);
            if (i < 0) return;
            var action = _retries[i].Action;
            _retries.RemoveAt(i);
            action();
        }
    }

    // ---- the API ------------------------------------------------------------------------------------------------

    /// <summary>Finds the coordinator and takes a producer id and epoch (fencing any older instance of this id and
    /// aborting its open transaction). <paramref name="done"/> gets None or the error that stopped it.</summary>
    public void InitTransactions(Action<ErrorCode> done)
    {
        Check.That(State is TransactionalProducerState.Uninitialized, "InitTransactions once, first");
        State = TransactionalProducerState.Initializing;
        InitProducerId(++_generation, -1, -1, done);
    }

    public void BeginTransaction()
    {
        Check.That(State == TransactionalProducerState.Ready, "BeginTransaction needs a ready producer with no open transaction");
        State = TransactionalProducerState.InTransaction;
        _buffer.Clear();
        _buffered = 0;
        _offsets = null;
        _coordinatorTouched = false;
        CommitRequested = false;
        _committedOffsets.Clear();
    }

    /// <summary>Buffers a record of the open transaction; false when the transaction holds its maximum.</summary>
    public bool Send(TopicPartition partition, byte[]? key, byte[]? value, long timestampMs)
    {
        Check.That(State == TransactionalProducerState.InTransaction, "Send inside a transaction");
        if (_buffered >= Options.TransactionRecordsMax) return false;
        if (!_buffer.TryGetValue(partition, out var list)) _buffer.Add(partition, list = new List<SimpleRecord>());
        list.Add(new SimpleRecord(key, value, timestampMs));
        _buffered++;
        _client.AddTopic(partition.Topic);
        return true;
    }

    /// <summary>Commits <paramref name="offsets"/> for <paramref name="groupId"/> as part of the transaction
    /// (the consumer positions of a read-process-write loop), applied only if it commits.</summary>
    public void SendOffsetsToTransaction(string groupId, IReadOnlyDictionary<TopicPartition, long> offsets)
    {
        Check.That(State == TransactionalProducerState.InTransaction, "SendOffsetsToTransaction inside a transaction");
        _offsets = (groupId, new Dictionary<TopicPartition, long>(offsets));
    }

    /// <summary>Sends the records buffered so far (AddPartitionsToTxn, then Produce) without ending the transaction
    /// (Kafka's flush inside a transaction): they are in the logs, invisible at read_committed until the commit.</summary>
    public void Flush(Action<ErrorCode> done)
    {
        Check.That(State == TransactionalProducerState.InTransaction, "Flush inside a transaction");
        State = TransactionalProducerState.Committing;
        int generation = ++_generation;
        AddPartitions(generation, done, () => ProduceAll(generation, done, () =>
        {
            _buffer.Clear();
            _buffered = 0;
            State = TransactionalProducerState.InTransaction;
            done(ErrorCode.None);
        }));
    }

    /// <summary>Writes the transaction (partitions, records, offsets) and commits it. <paramref name="done"/> gets
    /// None once the commit is decided (durable at the coordinator), or the error after which the transaction
    /// must be aborted (<see cref="TransactionalProducerState.NeedsAbort"/>) or the producer is fenced.</summary>
    public void CommitTransaction(Action<ErrorCode> done)
    {
        Check.That(State == TransactionalProducerState.InTransaction, "CommitTransaction of an open transaction");
        State = TransactionalProducerState.Committing;
        int generation = ++_generation;
        AddPartitions(generation, done, () => ProduceAll(generation, done, () => SendOffsets(generation, done, () => EndTxn(generation, true, done))));
    }

    /// <summary>Aborts the open (or failed) transaction; <paramref name="done"/> gets None once the abort is
    /// decided at the coordinator (nothing to do when nothing reached it).</summary>
    public void AbortTransaction(Action<ErrorCode> done)
    {
        Check.That(State is TransactionalProducerState.InTransaction or TransactionalProducerState.NeedsAbort, "AbortTransaction of an open or failed transaction");
        int generation = ++_generation;
        _buffer.Clear();
        _buffered = 0;
        if (!_coordinatorTouched)
        {
            State = TransactionalProducerState.Ready;
            done(ErrorCode.None);
            return;
        }
        State = TransactionalProducerState.Aborting;
        EndTxn(generation, false, error =>
        {
            if (error == ErrorCode.None && _unresolved.Count > 0) BumpEpoch(generation, done);
            else done(error);
        });
    }

    /// <summary>KIP-360: after an abort that left a batch's fate unknown, InitProducerId with the current id and epoch
    /// takes the next epoch (the coordinator answers CONCURRENT_TRANSACTIONS until the abort's markers are written,
    /// and is retried), and every partition's sequence starts again at 0 under it.</summary>
    private void BumpEpoch(int generation, Action<ErrorCode> done)
    {
        State = TransactionalProducerState.Aborting;
        InitProducerId(generation, ProducerId, ProducerEpoch, done); // on failure still unresolved: the next abort retries
    }

    /// <summary>InitProducerId for this transactional id (-1/-1: a new instance; the current id and epoch: KIP-360's
    /// bump), retried on retriable errors. On success the producer is Ready under the answered id and epoch, every
    /// sequence restarting at 0.</summary>
    private void InitProducerId(int generation, long producerId, short producerEpoch, Action<ErrorCode> done)
    {
        int attempts = 0;
        void Attempt() => WithCoordinator(generation, node =>
        {
            _client.Send(node, ApiKey.InitProducerId, new InitProducerIdRequest
            {
                TransactionalId = Options.TransactionalId, TransactionTimeoutMs = Options.TransactionTimeoutMs,
                ProducerId = producerId, ProducerEpoch = producerEpoch,
            }, r =>
            {
                if (generation != _generation) return;
                var error = r.Body is InitProducerIdResponse b ? b.ErrorCode : ErrorCode.RequestTimedOut;
                if (error == ErrorCode.None)
                {
                    var body = (InitProducerIdResponse)r.Body!;
                    (ProducerId, ProducerEpoch) = (body.ProducerId, body.ProducerEpoch);
                    _sequences.Clear();
                    _unresolved.Clear();
                    State = TransactionalProducerState.Ready;
                    done(ErrorCode.None);
                }
                else if (Retriable(error) && ++attempts <= Options.StepRetriesMax) RetryLater(generation, Attempt, error);
                else Fail(error, done);
            });
        });
        Attempt();
    }

    // ---- the steps ----------------------------------------------------------------------------------------------

    private void AddPartitions(int generation, Action<ErrorCode> done, Action next)
    {
        if (_buffer.Count == 0)
        {
            next();
            return;
        }
        int attempts = 0;
        void Attempt() => WithCoordinator(generation, node =>
        {
            _coordinatorTouched = true;
            var request = new AddPartitionsToTxnRequest
            {
                TransactionalId = Options.TransactionalId, ProducerId = ProducerId, ProducerEpoch = ProducerEpoch,
                Topics = _buffer.Keys.GroupBy(tp => tp.Topic, StringComparer.Ordinal)
                    .Select(g => new AddPartitionsToTxnRequest.AddPartitionsToTxnTopic { Name = g.Key, Partitions = g.Select(tp => tp.Partition).ToList() }).ToList(),
            };
            _client.Send(node, ApiKey.AddPartitionsToTxn, request, r =>
            {
                if (generation != _generation) return;
                var error = r.Body is AddPartitionsToTxnResponse b
                    ? b.Results.SelectMany(t => t.Results).Select(x => x.ErrorCode).FirstOrDefault(e => e != ErrorCode.None && e != ErrorCode.OperationNotAttempted, ErrorCode.None)
                    : ErrorCode.RequestTimedOut;
                if (error == ErrorCode.None) next();
                else if (Retriable(error) && ++attempts <= Options.StepRetriesMax) RetryLater(generation, Attempt, error);
                else Fail(error, done);
            });
        });
        Attempt();
    }

    private void ProduceAll(int generation, Action<ErrorCode> done, Action next)
    {
        int waiting = _buffer.Count;
        if (waiting == 0)
        {
            next();
            return;
        }
        bool failed = false;
        foreach (var (tp, records) in _buffer)
        {
            var partition = tp;
            int sequence = _sequences.GetValueOrDefault(tp);
            var batch = RecordBatchBuilder.Build(records, producerId: ProducerId, producerEpoch: ProducerEpoch, baseSequence: sequence, isTransactional: true);
            int count = records.Count;
            int attempts = 0;
            void Attempt()
            {
                int leader = _client.Metadata.LeaderFor(partition);
                if (leader < 0 || !_client.Ready(leader))
                {
                    if (leader < 0) _client.RequestMetadataUpdate();
                    if (++attempts <= Options.StepRetriesMax) RetryLater(generation, Attempt, ErrorCode.LeaderNotAvailable);
                    else Finish(ErrorCode.LeaderNotAvailable);
                    return;
                }
                _unresolved.Add(partition);
                _client.Send(leader, ApiKey.Produce, new ProduceRequest
                {
                    TransactionalId = Options.TransactionalId, Acks = -1, TimeoutMs = 30_000,
                    TopicData = [new() { Name = partition.Topic, PartitionData = [new() { Index = partition.Partition, Records = batch }] }],
                }, r =>
                {
                    if (generation != _generation) return;
                    var p = (r.Body as ProduceResponse)?.Responses.FirstOrDefault()?.PartitionResponses.FirstOrDefault();
                    var error = p?.ErrorCode ?? ErrorCode.RequestTimedOut;
                    if (error == ErrorCode.None)
                    {
                        _sequences[partition] = sequence + count;
                        _unresolved.Remove(partition);
                        _committedOffsets[partition] = p!.BaseOffset;
                        Finish(ErrorCode.None);
                    }
                    else if (Retriable(error) && ++attempts <= Options.StepRetriesMax)
                    {
                        if (error is ErrorCode.NotLeaderOrFollower or ErrorCode.UnknownTopicOrPartition) _client.RequestMetadataUpdate();
                        RetryLater(generation, Attempt, error); // the same batch and sequence: the broker writes it once
                    }
                    else Finish(error);
                });
            }
            Attempt();
        }

        void Finish(ErrorCode error)
        {
            if (failed) return;
            if (error != ErrorCode.None)
            {
                failed = true;
                Fail(error, done);
                return;
            }
            if (--waiting == 0) next();
        }
    }

    private void SendOffsets(int generation, Action<ErrorCode> done, Action next)
    {
        if (_offsets is not { } offsets)
        {
            next();
            return;
        }
        int attempts = 0;
        void AddOffsets() => WithCoordinator(generation, node =>
        {
            _coordinatorTouched = true;
            _client.Send(node, ApiKey.AddOffsetsToTxn, new AddOffsetsToTxnRequest
            {
                TransactionalId = Options.TransactionalId, ProducerId = ProducerId, ProducerEpoch = ProducerEpoch, GroupId = offsets.Group,
            }, r =>
            {
                if (generation != _generation) return;
                var error = (r.Body as AddOffsetsToTxnResponse)?.ErrorCode ?? ErrorCode.RequestTimedOut;
                if (error == ErrorCode.None) Commit();
                else if (Retriable(error) && ++attempts <= Options.StepRetriesMax) RetryLater(generation, AddOffsets, error);
                else Fail(error, done);
            });
        });
        // TxnOffsetCommit goes to the group's coordinator; on one node (and in the simulator) every coordinator is
        // found the same way, so the group coordinator is looked up with key type 0.
        void Commit() => FindCoordinator(generation, 0, offsets.Group, node =>
        {
            _client.Send(node, ApiKey.TxnOffsetCommit, new TxnOffsetCommitRequest
            {
                TransactionalId = Options.TransactionalId, GroupId = offsets.Group, ProducerId = ProducerId, ProducerEpoch = ProducerEpoch,
                GenerationId = -1, MemberId = "",
                Topics = offsets.Offsets.GroupBy(kv => kv.Key.Topic, StringComparer.Ordinal).Select(g => new TxnOffsetCommitRequest.TxnOffsetCommitRequestTopic
                {
                    Name = g.Key,
                    Partitions = g.Select(kv => new TxnOffsetCommitRequest.TxnOffsetCommitRequestPartition { PartitionIndex = kv.Key.Partition, CommittedOffset = kv.Value }).ToList(),
                }).ToList(),
            }, r =>
            {
                if (generation != _generation) return;
                var error = r.Body is TxnOffsetCommitResponse b
                    ? b.Topics.SelectMany(t => t.Partitions).Select(x => x.ErrorCode).FirstOrDefault(e => e != ErrorCode.None, ErrorCode.None)
                    : ErrorCode.RequestTimedOut;
                if (error == ErrorCode.None) next();
                else if (Retriable(error) && ++attempts <= Options.StepRetriesMax) RetryLater(generation, Commit, error);
                else Fail(error, done);
            });
        });
        AddOffsets();
    }

    private void EndTxn(int generation, bool commit, Action<ErrorCode> done)
    {
        if (!_coordinatorTouched)
        {
            // Nothing reached the coordinator (no partition, no offsets): nothing to end there. Kafka's producer
            // completes such a commit locally too; an EndTxn would find no open transaction (and at v5 be fenced).
            State = TransactionalProducerState.Ready;
            done(ErrorCode.None);
            return;
        }
        int attempts = 0;
        void Attempt() => WithCoordinator(generation, node =>
        {
            if (commit) CommitRequested = true;
            _client.Send(node, ApiKey.EndTxn, new EndTxnRequest
            {
                TransactionalId = Options.TransactionalId, ProducerId = ProducerId, ProducerEpoch = ProducerEpoch, Committed = commit,
            }, r =>
            {
                if (generation != _generation) return;
                var error = (r.Body as EndTxnResponse)?.ErrorCode ?? ErrorCode.RequestTimedOut;
                if (error == ErrorCode.None)
                {
                    // KIP-890 part 2 (EndTxn v5): the coordinator bumped the epoch (or gave a new producer id at
                    // epoch 0) and wrote this transaction's markers with it; the next transaction runs under it, so a
                    // delayed EndTxn of this one is fenced. A new epoch starts every partition's sequence at 0.
                    var body = (EndTxnResponse)r.Body!;
                    if (r.Version >= 5 && body.ProducerId >= 0 && body.ProducerEpoch >= 0 &&
                        (body.ProducerId != ProducerId || body.ProducerEpoch != ProducerEpoch))
                    {
                        (ProducerId, ProducerEpoch) = (body.ProducerId, body.ProducerEpoch);
                        _sequences.Clear();
                        _unresolved.Clear();
                    }
                    State = TransactionalProducerState.Ready;
                    _buffer.Clear();
                    _buffered = 0;
                    done(ErrorCode.None);
                }
                else if (Retriable(error) && ++attempts <= Options.StepRetriesMax) RetryLater(generation, Attempt, error);
                else Fail(error, done);
            });
        });
        Attempt();
    }

    // ---- coordinator, retries, failures ---------------------------------------------------------------------

    private void WithCoordinator(int generation, Action<int> send) => FindCoordinator(generation, 1, Options.TransactionalId, send);

    private void FindCoordinator(int generation, sbyte keyType, string key, Action<int> send)
    {
        if (keyType == 1 && _coordinator >= 0)
        {
            if (_client.Ready(_coordinator)) send(_coordinator);
            else RetryLater(generation, () => FindCoordinator(generation, keyType, key, send), ErrorCode.None);
            return;
        }
        int node = -1;
        foreach (var id in _client.Metadata.Brokers.Keys)
            if (_client.Ready(id))
            {
                node = id;
                break;
            }
        if (node < 0)
        {
            _client.RequestMetadataUpdate();
            RetryLater(generation, () => FindCoordinator(generation, keyType, key, send), ErrorCode.None);
            return;
        }
        short? v = _client.VersionFor(node, ApiKey.FindCoordinator);
        var request = v >= 4
            ? new FindCoordinatorRequest { KeyType = keyType, CoordinatorKeys = [key] }
            : new FindCoordinatorRequest { KeyType = keyType, Key = key };
        _client.Send(node, ApiKey.FindCoordinator, request, r =>
        {
            if (generation != _generation) return;
            var (error, id) = r.Body is FindCoordinatorResponse f
                ? (r.Version >= 4 && f.Coordinators.Count == 1 ? (f.Coordinators[0].ErrorCode, f.Coordinators[0].NodeId) : (f.ErrorCode, f.NodeId))
                : (ErrorCode.RequestTimedOut, -1);
            if (error != ErrorCode.None || id < 0)
            {
                RetryLater(generation, () => FindCoordinator(generation, keyType, key, send), error);
                return;
            }
            if (keyType == 1) _coordinator = id;
            if (_client.Ready(id)) send(id);
            else RetryLater(generation, () => FindCoordinator(generation, keyType, key, send), ErrorCode.None);
        });
    }

    private void RetryLater(int generation, Action action, ErrorCode why)
    {
        if (why is ErrorCode.NotCoordinator or ErrorCode.CoordinatorNotAvailable) _coordinator = -1;
        Check.That(_retries.Count < 10_000, "retries are bounded");
        _retries.Add((_client.Clock.MonotonicMs + Options.RetryBackoffMs, () =>
        {
            if (generation == _generation) action();
        }));
    }

    private static bool Retriable(ErrorCode e) => e is ErrorCode.ConcurrentTransactions or ErrorCode.NotCoordinator
        or ErrorCode.CoordinatorNotAvailable or ErrorCode.CoordinatorLoadInProgress or ErrorCode.RequestTimedOut
        or ErrorCode.NotLeaderOrFollower or ErrorCode.UnknownTopicOrPartition or ErrorCode.LeaderNotAvailable
        or ErrorCode.NotEnoughReplicas or ErrorCode.NotEnoughReplicasAfterAppend or ErrorCode.KafkaStorageError;

    private void Fail(ErrorCode error, Action<ErrorCode> done)
    {
        LastError = error;
        State = error is ErrorCode.ProducerFenced or ErrorCode.InvalidProducerEpoch or ErrorCode.TransactionalIdAuthorizationFailed
            ? TransactionalProducerState.Fenced
            : State is TransactionalProducerState.Initializing ? TransactionalProducerState.Uninitialized : TransactionalProducerState.NeedsAbort;
        done(error);
    }
}
