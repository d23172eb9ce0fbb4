using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Groups;
using DetKafka.Core.Protocol;
using DetKafka.Core.Records;
using DetKafka.Core.Storage;
using DetKafka.Core.Util;

namespace DetKafka.Core.Transactions;

/// <summary>
/// The transaction coordinator (Kafka's TransactionCoordinator + TransactionStateManager + marker channel) as
/// part of the node's state machine. A transactional id lives in partition
/// <see cref="TransactionRecords.PartitionFor"/> of <c>__transaction_state</c>; its coordinator is that
/// partition's leader. Every state change is written there and applied once durable; start-up replays the topic
/// (<see cref="Load"/>) and finishes transactions found prepared (a crash between the prepare record and the
/// markers). Markers go to the partitions through the local log path, with this coordinator's epoch; WriteTxnMarkers
/// serves the same path to other coordinators. In a quorum the coordinator follows its partitions' leadership, and
/// markers for partitions led elsewhere go there as WriteTxnMarkers (TransactionCoordinator.Leadership.cs).
/// docs/design/TRANSACTIONS.md.
/// </summary>
public sealed partial class TransactionCoordinator
{
    /// <summary>Transactional ids at most; a new one past it gets COORDINATOR_NOT_AVAILABLE.</summary>
    public const int TransactionalIdsMax = 100_000;

    /// <summary>The largest epoch handed out; past it the id gets a new producer id (Kafka: Short.MaxValue - 1).</summary>
    private const short EpochMax = short.MaxValue - 1;

    /// <summary>The file holding the coordinator epoch, bumped at every start (a stale coordinator's markers lose).</summary>
    public const string EpochFile = "transaction-coordinator.epoch";

    private readonly BrokerNode _broker;
    private readonly SortedDictionary<string, TransactionMetadata> _txns = new(StringComparer.Ordinal);
    private readonly Dictionary<long, string> _byProducerId = new();
    private bool _loaded;
    private TimerHandle? _timeoutTimer;

    /// <summary>Test-only switches that plant one bug each (TRANSACTIONS.md); never set outside tests.</summary>
    public TransactionFaults Faults { get; set; } = TransactionFaults.None;

    internal TransactionCoordinator(BrokerNode broker) => _broker = broker;

    /// <summary>This coordinator's epoch, carried by its markers (Kafka: the state partition's leader epoch).</summary>
    public int CoordinatorEpoch { get; private set; }

    private BrokerConfig Config => _broker.Config;
    private long Now => _broker.Clock.MonotonicMs;
    private long WallNow => _broker.Clock.WallClockMs;

    public IReadOnlyCollection<TransactionMetadata> Transactions => _txns.Values;
    public TransactionMetadata? Find(string transactionalId) => _txns.GetValueOrDefault(transactionalId);

    public int StatePartitionCount => _broker.FindTopic(TransactionRecords.StateTopic)?.PartitionCount ?? Config.TransactionStateLogNumPartitions;
    public int PartitionFor(string transactionalId) => TransactionRecords.PartitionFor(transactionalId, StatePartitionCount);

    // ---- the internal topic and who coordinates -------------------------------------------------------------

    /// <summary>Creates <c>__transaction_state</c> when missing (Kafka creates it on the first FindCoordinator
    /// for a transactional id): transaction.state.log.num.partitions partitions, compacted.</summary>
    public ErrorCode EnsureStateTopic()
        => _broker.EnsureInternalTopic(TransactionRecords.StateTopic, Config.TransactionStateLogNumPartitions, Config.TransactionStateLogSegmentBytes,
            Config.TransactionStateLogReplicationFactor);

    private ErrorCode CheckCoordinator(string transactionalId, bool create = true)
    {
        if (string.IsNullOrEmpty(transactionalId)) return ErrorCode.InvalidRequest;
        if (create && EnsureStateTopic() != ErrorCode.None) return ErrorCode.CoordinatorNotAvailable;
        int p = PartitionFor(transactionalId);
        var error = _broker.CoordinatorError(TransactionRecords.StateTopic, p);
        if (error != ErrorCode.None) return error;
        // In a quorum the leader serves only once it has loaded the partition in its epoch (Leadership.cs).
        if (_broker.IsQuorumMode) return Leadership.LoadError(p);
        return _loaded ? ErrorCode.None : ErrorCode.CoordinatorLoadInProgress;
    }

    /// <summary>FindCoordinator for a transactional id (key type 1).</summary>
    public (ErrorCode Error, string? Message) FindCoordinator(string key)
    {
        if (string.IsNullOrEmpty(key)) return (ErrorCode.InvalidRequest, "empty transactional id");
        var error = CheckCoordinator(key);
        return (error, error == ErrorCode.None ? null : error.ToString());
    }

    // ---- loading ----------------------------------------------------------------------------------------------

    /// <summary>
    /// Bumps the coordinator epoch (durably, before anything is served), replays every partition of
    /// <c>__transaction_state</c> (last record per id wins), and resumes the markers of transactions found in
    /// PrepareCommit or PrepareAbort. Synchronous, inside <see cref="BrokerNode.Start"/>; requests arriving before
    /// it finished would get COORDINATOR_LOAD_IN_PROGRESS (none can on one node).
    /// </summary>
    internal void Load()
    {
        if (_broker.IsQuorumMode)
        {
            // A quorum loads a partition when this node leads it and its epoch's first entry committed
            // (Leadership.cs); markers carry that partition's leader epoch, so no node-wide epoch is bumped.
            _loaded = true;
            ScheduleTimeouts();
            ScheduleExpiration();
            return;
        }
        CoordinatorEpoch = BumpEpoch();
        var topic = _broker.FindTopic(TransactionRecords.StateTopic);
        long records = 0;
        if (topic is not null)
            for (int p = 0; p < topic.PartitionCount; p++) records += Replay(p, -1);
        _loaded = true;
        foreach (var txn in _txns.Values)
            if (txn.State is TxnState.PrepareCommit or TxnState.PrepareAbort)
            {
                _broker.Log.Info("Transaction {Id}: found {State} at start-up; writing its markers", txn.TransactionalId, txn.State);
                WriteMarkersAndComplete(txn);
            }
        ScheduleTimeouts();
        ScheduleExpiration();
        _broker.Log.Info("Transaction coordinator epoch {Epoch}: loaded {Count} transactional ids from {Records} records of {Topic}",
            CoordinatorEpoch, _txns.Count, records, TransactionRecords.StateTopic);
    }

    /// <summary>Replays partition <paramref name="p"/> of <c>__transaction_state</c> up to <paramref name="upTo"/> (the
    /// log end when -1), last record per id wins; the number of records read.</summary>
    private long Replay(int p, long upTo)
    {
        var log = _broker.FindLog(TransactionRecords.StateTopic, p);
        if (log is null) return 0;
        long records = 0;
        var decoded = new List<DecodedRecord>();
        long offset = log.LogStartOffset;
        long end = upTo >= 0 ? Math.Min(upTo, log.LogEndOffset) : log.LogEndOffset;
        for (int round = 0; offset < end; round++)
        {
            Check.That(round <= end - log.LogStartOffset, "loading makes progress");
            var read = log.Read(offset, 1 << 20, end);
            long next = read.Error == ErrorCode.None ? ReplayBatches(read.Records.Span, offset, end, decoded, ref records) : -1;
            if (next <= offset)
            {
                _broker.Log.Warn("Stopped loading {Topic}-{Partition} at offset {Offset}: unreadable", TransactionRecords.StateTopic, p, offset);
                break;
            }
            offset = next;
        }
        return records;
    }

    /// <summary>Replays the data batches of <paramref name="bytes"/> (records in [<paramref name="from"/>,
    /// <paramref name="end"/>)); control batches (a replicated partition's LEADER_CHANGE) carry no state. Returns the
    /// offset after the last whole batch, or -1 when the first one is unreadable.</summary>
    private long ReplayBatches(ReadOnlySpan<byte> bytes, long from, long end, List<DecodedRecord> decoded, ref long records)
    {
        long next = -1;
        int position = 0;
        while (position < bytes.Length)
        {
            if (!RecordBatchHeader.TryRead(bytes[position..], out var header) || header.TotalSize > bytes.Length - position) break;
            var batch = bytes.Slice(position, (int)header.TotalSize);
            if (!header.IsControl)
            {
                decoded.Clear();
                if (RecordBatchDecoder.Decode(batch, decoded) != ErrorCode.None) break;
                foreach (var r in decoded)
                {
                    if (r.Offset < from || r.Offset >= end) continue;
                    Replay(r);
                    records++;
                }
            }
            next = header.LastOffset + 1;
            position += (int)header.TotalSize;
        }
        return next;
    }

    private void Replay(DecodedRecord r)
    {
        if (r.Key is null) return;
        try
        {
            string id = TransactionRecords.ReadKey(r.Key);
            if (r.Value is null)
            {
                if (_txns.Remove(id, out var gone)) _byProducerId.Remove(gone.ProducerId);
                return;
            }
            var value = TransactionRecords.ReadValue(r.Value);
            var txn = GetOrCreate(id);
            if (txn.ProducerId != value.ProducerId) _byProducerId.Remove(txn.ProducerId);
            txn.Apply(value);
            _byProducerId[value.ProducerId] = id;
        }
        catch (ProtocolException e)
        {
            _broker.Log.Warn("Skipped an unreadable {Topic} record at offset {Offset}: {Reason}", TransactionRecords.StateTopic, r.Offset, e.Message);
        }
    }

    private TransactionMetadata GetOrCreate(string id)
    {
        if (_txns.TryGetValue(id, out var t)) return t;
        t = new TransactionMetadata(id);
        _txns.Add(id, t);
        return t;
    }

    /// <summary>Reads, increments and syncs the coordinator epoch file. A missing or damaged file starts at the
    /// largest coordinator epoch any marker in the logs carries, so the new epoch is never below one in use.</summary>
    private int BumpEpoch()
    {
        string path = string.IsNullOrEmpty(Config.DataDirectory) ? EpochFile : Config.DataDirectory + "/" + EpochFile;
        int previous = 0;
        if (_broker.Disk.FileExists(path))
        {
            using var file = _broker.Disk.Open(path, create: false);
            if (file.Length is >= 1 and <= 64)
            {
                var bytes = new byte[file.Length];
                if (file.Read(0, bytes) == bytes.Length &&
                    int.TryParse(System.Text.Encoding.ASCII.GetString(bytes).Trim(), System.Globalization.NumberStyles.None,
                        System.Globalization.CultureInfo.InvariantCulture, out int parsed))
                    previous = parsed;
            }
        }
        foreach (var log in _broker.Logs.Logs) previous = Math.Max(previous, log.Transactions.LargestCoordinatorEpoch);
        int epoch = previous + 1;
        string tmp = path + ".tmp";
        if (_broker.Disk.FileExists(tmp)) _broker.Disk.DeleteFile(tmp);
        using (var file = _broker.Disk.Open(tmp, create: true))
        {
            var status = file.Write(0, System.Text.Encoding.ASCII.GetBytes(epoch.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\n"));
            if (status == DiskStatus.Ok) status = file.SyncNow();
            if (status != DiskStatus.Ok)
            {
                _broker.Log.Warn("Could not write {File} ({Status}); epoch {Epoch} is not durable", EpochFile, status, epoch);
                return epoch;
            }
        }
        _broker.Disk.Rename(tmp, path);
        _broker.Disk.SyncDirectory(Config.DataDirectory);
        return epoch;
    }

    // ---- writes -------------------------------------------------------------------------------------------------

    /// <summary>Writes <paramref name="target"/> as the id's record and, once durable, applies it and calls
    /// <paramref name="done"/> with None; on failure the state stays as it was and done gets Kafka's mapping.</summary>
    private void WriteState(TransactionMetadata txn, TxnRecord target, Action<ErrorCode> done)
    {
        Check.That(!txn.PendingWrite, "one state write per transactional id at a time");
        var log = _broker.Replicas.GetPartition(TransactionRecords.StateTopic, PartitionFor(txn.TransactionalId));
        if (log is null)
        {
            done(ErrorCode.NotCoordinator);
            return;
        }
        long wall = WallNow;
        var batch = RecordBatchBuilder.Build([new SimpleRecord(TransactionRecords.Key(txn.TransactionalId), TransactionRecords.Value(target), wall)]);
        txn.PendingWrite = true;
        var appended = AppendDurably(log, batch, wall, fromCoordinator: false, error =>
        {
            txn.PendingWrite = false;
            if (error == ErrorCode.None)
            {
                if (txn.ProducerId != target.ProducerId && txn.ProducerId >= 0) _byProducerId.Remove(txn.ProducerId);
                txn.Apply(target);
                _byProducerId[target.ProducerId] = txn.TransactionalId;
            }
            done(MapWriteError(error));
        }, planted: (Faults & TransactionFaults.AnswerBeforeReplicated) != 0);
        if (appended != ErrorCode.None)
        {
            txn.PendingWrite = false;
            done(MapWriteError(appended));
        }
    }

    private static ErrorCode MapWriteError(ErrorCode e) => e switch
    {
        ErrorCode.None => ErrorCode.None,
        ErrorCode.NotLeaderOrFollower or ErrorCode.KafkaStorageError => ErrorCode.NotCoordinator,
        _ => ErrorCode.CoordinatorNotAvailable,
    };

    // ---- markers --------------------------------------------------------------------------------------------------

    /// <summary>Writes the markers of a prepared transaction to each of its partitions, waits until they are
    /// durable, then writes CompleteCommit/CompleteAbort. A partition whose marker fails (a storage error, a
    /// full disk) is retried after a pause; one whose topic is gone is skipped (nothing can read it).</summary>
    private void WriteMarkersAndComplete(TransactionMetadata txn)
    {
        if (txn.WritingMarkers) return;
        Check.That(txn.State is TxnState.PrepareCommit or TxnState.PrepareAbort);
        txn.WritingMarkers = true;
        bool commit = txn.State == TxnState.PrepareCommit;
        long pid = txn.ProducerId;
        short epoch = txn.ProducerEpoch;
        var partitions = txn.Partitions.ToList();
        if (!commit && (Faults & TransactionFaults.SkipAbortMarkers) != 0) partitions.Clear();
        WriteMarkers(pid, epoch, commit, EpochFor(txn), partitions, errors =>
        {
            txn.WritingMarkers = false;
            if (!IsCurrent(txn)) return; // unloaded meanwhile: the partition's new coordinator finishes it
            if (txn.ProducerId != pid || txn.ProducerEpoch != epoch || txn.State is not (TxnState.PrepareCommit or TxnState.PrepareAbort)) return;
            bool retry = false;
            foreach (var (tp, e) in errors)
                if (e != ErrorCode.None && e != ErrorCode.UnknownTopicOrPartition)
                {
                    _broker.Log.Warn("Transaction {Id}: marker for {Partition} failed ({Error}); retrying", txn.TransactionalId, tp, e);
                    retry = true;
                }
            if (retry)
            {
                _broker.Timers.Schedule(Now + 100, () =>
                {
                    if (IsCurrent(txn) && txn.State is TxnState.PrepareCommit or TxnState.PrepareAbort && !txn.PendingWrite) WriteMarkersAndComplete(txn);
                });
                return;
            }
            if ((Faults & TransactionFaults.CompleteBeforeMarkers) == 0) CompleteAfterMarkers(txn, commit);
        });
        // Planted bug: complete (and free the id for its next transaction) without waiting for the markers.
        if ((Faults & TransactionFaults.CompleteBeforeMarkers) != 0) CompleteAfterMarkers(txn, commit);
    }

    private void CompleteAfterMarkers(TransactionMetadata txn, bool commit)
    {
        if (!IsCurrent(txn)) return;
        if (txn.PendingWrite)
        {
            _broker.Timers.Schedule(Now + 10, () => CompleteAfterMarkers(txn, commit));
            return;
        }
        var target = txn.ToRecord() with
        {
            State = commit ? TxnState.CompleteCommit : TxnState.CompleteAbort,
            Partitions = [],
            LastUpdateTimestampMs = WallNow,
        };
        // KIP-890 part 2: the markers of a transaction that exhausted the epoch are written; the id moves to its
        // next producer id at epoch 0 (a retried EndTxn names the previous id at the largest epoch).
        if (txn.NextProducerId >= 0)
            target = target with { ProducerId = txn.NextProducerId, ProducerEpoch = 0, PreviousProducerId = txn.ProducerId, NextProducerId = -1 };
        WriteState(txn, target, error =>
        {
            if (error == ErrorCode.None) return;
            // The markers are written; only the completion record failed. Try again (the state stays prepared,
            // so a restart would rewrite the markers, which is harmless: a second marker ends nothing).
            _broker.Log.Warn("Transaction {Id}: completion record failed ({Error}); retrying", txn.TransactionalId, error);
            _broker.Timers.Schedule(Now + 100, () =>
            {
                if (IsCurrent(txn) && txn.State is TxnState.PrepareCommit or TxnState.PrepareAbort) CompleteAfterMarkers(txn, commit);
            });
        });
    }

    /// <summary>
    /// Appends a marker for producer <paramref name="producerId"/> to each partition through the local log path,
    /// and calls <paramref name="done"/> once every one is durable or failed, with each partition's error. A marker
    /// in a <c>__consumer_offsets</c> partition makes the group coordinator apply or drop the producer's pending
    /// transactional offsets once it is durable. Shared by the coordinator and the WriteTxnMarkers API.
    /// A marker is refused when its coordinator epoch is older than the last one written there for the producer
    /// (TRANSACTION_COORDINATOR_FENCED) or its producer epoch is older than the producer's epoch in that
    /// partition (INVALID_PRODUCER_EPOCH, Kafka's appendEndTxnMarker check): a marker delayed from before a
    /// coordinator restart or a fence cannot end a later transaction of the producer.
    /// </summary>
    /// In a quorum a marker for a partition led elsewhere goes to its leader (WriteTxnMarkers) when
    /// <paramref name="forward"/>; the WriteTxnMarkers handler passes false and answers NOT_LEADER_OR_FOLLOWER instead.
    public void WriteMarkers(long producerId, short producerEpoch, bool commit, int coordinatorEpoch,
        IReadOnlyList<TopicPartition> partitions, Action<List<(TopicPartition, ErrorCode)>> done, bool forward = true)
    {
        var results = new List<(TopicPartition, ErrorCode)>(partitions.Count);
        int waiting = 1;
        void Finish()
        {
            if (--waiting == 0) done(results);
        }
        foreach (var tp in partitions)
        {
            var partition = tp;
            waiting++;
            if (HoldMarker?.Invoke(tp) == true)
            {
                // Simulation only: this marker write is held back and applied when the simulator releases it.
                Check.That(_heldMarkers.Count < HeldMarkersMax, "held markers are bounded");
                _heldMarkers.Add(new HeldMarker(producerId, producerEpoch, commit, coordinatorEpoch, tp, error =>
                {
                    results.Add((partition, error));
                    Finish();
                }));
                continue;
            }
            AppendMarker(producerId, producerEpoch, commit, coordinatorEpoch, tp, error =>
            {
                results.Add((partition, error));
                Finish();
            }, forward);
        }
        _broker.Replicas.StartSyncs(Now);
        Finish();
    }

    /// <summary>One marker to one partition; <paramref name="done"/> once durable or failed.</summary>
    private void AppendMarker(long producerId, short producerEpoch, bool commit, int coordinatorEpoch, TopicPartition tp, Action<ErrorCode> done,
        bool forward = true)
    {
        var log = _broker.Replicas.GetPartition(tp.Topic, tp.Partition);
        if (_broker.IsQuorumMode && log is not { IsLeader: true })
        {
            // Led elsewhere (or by nobody yet): its leader writes it.
            if (forward) ForwardMarker(producerId, producerEpoch, commit, coordinatorEpoch, tp, done);
            else done(log is null && _broker.FindTopic(tp.Topic) is null ? ErrorCode.UnknownTopicOrPartition : ErrorCode.NotLeaderOrFollower);
            return;
        }
        if (log is null)
        {
            done(ErrorCode.UnknownTopicOrPartition);
            return;
        }
        if ((Faults & TransactionFaults.AcceptStaleMarkers) != 0)
            coordinatorEpoch = Math.Max(coordinatorEpoch, log.Log.Transactions.LargestCoordinatorEpoch);
        else if (log.Log.Producers.EpochOf(producerId) is { } current && producerEpoch < current)
        {
            done(ErrorCode.InvalidProducerEpoch);
            return;
        }
        long wall = WallNow;
        var marker = ControlRecord.BuildMarker(producerId, producerEpoch, coordinatorEpoch, commit, wall);
        var appended = AppendDurably(log, marker, wall, fromCoordinator: true, error =>
        {
            if (error == ErrorCode.None && tp.Topic == GroupRecords.OffsetsTopic)
                _broker.Groups.OnTransactionMarker(tp.Partition, producerId, commit);
            done(error);
        });
        if (appended != ErrorCode.None)
        {
            done(appended);
            return;
        }
        // A marker changes the last stable offset: fetches waiting on this partition may now have data.
        _broker.Purgatory.OnPartitionAdvanced(log);
    }

    // ---- held-back markers (simulation only) -----------------------------------------------------------------------

    /// <summary>Held markers at most (the simulator releases them; a bound keeps a runaway hold loud).</summary>
    public const int HeldMarkersMax = 10_000;

    /// <summary>A marker write the simulator holds back (a delayed marker): applied by <see cref="ReleaseHeldMarkers"/>.</summary>
    public sealed record HeldMarker(long ProducerId, short ProducerEpoch, bool Commit, int CoordinatorEpoch, TopicPartition Partition, Action<ErrorCode> Done);

    private readonly List<HeldMarker> _heldMarkers = new();

    /// <summary>Simulation only: when set and true for a partition, that marker write is held back until
    /// <see cref="ReleaseHeldMarkers"/> (a marker delivered late). Never set by the host.</summary>
    public Func<TopicPartition, bool>? HoldMarker { get; set; }

    public IReadOnlyList<HeldMarker> HeldMarkers => _heldMarkers;

    /// <summary>Applies the held markers (up to <paramref name="max"/>, oldest first), each as it would have been.</summary>
    public void ReleaseHeldMarkers(int max = int.MaxValue)
    {
        int n = Math.Min(max, _heldMarkers.Count);
        var release = _heldMarkers.GetRange(0, n);
        _heldMarkers.RemoveRange(0, n);
        foreach (var h in release) AppendMarker(h.ProducerId, h.ProducerEpoch, h.Commit, h.CoordinatorEpoch, h.Partition, h.Done);
        _broker.Replicas.StartSyncs(Now);
    }

    // ---- produce verification (the part of KIP-890 these clients allow) ------------------------------------------

    /// <summary>
    /// Whether producer <paramref name="producerId"/> at <paramref name="epoch"/> may write transactional data to
    /// <paramref name="tp"/> now: its transaction is Ongoing at that epoch and includes the partition (added by a
    /// durable AddPartitionsToTxn). A late produce from a finished transaction, one to a partition never added, or
    /// one from a fenced epoch is refused, so it cannot join a later transaction.
    /// </summary>
    public ErrorCode VerifyTransactionalProduce(long producerId, short epoch, TopicPartition tp)
    {
        if ((Faults & TransactionFaults.SkipProduceVerification) != 0) return ErrorCode.None;
        if (!_byProducerId.TryGetValue(producerId, out var id) || !_txns.TryGetValue(id, out var txn) || txn.ProducerId != producerId)
            // In a quorum the producer's coordinator may be another node: only the ids coordinated here are checked
            // (Kafka's partition leaders ask the coordinator, KIP-890 part 1's AddPartitionsToTxn v4; not done here).
            return _broker.IsQuorumMode ? ErrorCode.None : ErrorCode.InvalidTxnState;
        if (epoch < txn.ProducerEpoch) return ErrorCode.InvalidProducerEpoch;
        if (epoch > txn.ProducerEpoch) return ErrorCode.InvalidProducerEpoch;
        if (txn.State != TxnState.Ongoing || !txn.Partitions.Contains(tp)) return ErrorCode.InvalidTxnState;
        return ErrorCode.None;
    }

    /// <summary>The produce path's check of one partition's records: a transactional batch (not a marker) is
    /// verified against its producer's transaction; everything else passes.</summary>
    public ErrorCode CheckProduce(ReadOnlySpan<byte> records, string topic, int partition)
    {
        if (!RecordBatchHeader.TryRead(records, out var header) || !header.IsTransactional || header.IsControl) return ErrorCode.None;
        if (header.ProducerId < 0) return ErrorCode.InvalidRecord;
        return VerifyTransactionalProduce(header.ProducerId, header.ProducerEpoch, new TopicPartition(topic, partition));
    }

    /// <summary>The last stable offset a fetch or ListOffsets reports for <paramref name="log"/>.</summary>
    public long LastStableOffset(UnifiedLog log)
        => (Faults & TransactionFaults.LsoIgnoresOpenTransactions) != 0 ? log.HighWatermark : log.LastStableOffset;

    // ---- transaction.timeout.ms ---------------------------------------------------------------------------------

    private void ScheduleTimeouts()
    {
        if (_timeoutTimer is { IsCancelled: false } t && t.DeadlineMs > Now) return;
        _timeoutTimer = _broker.Timers.Schedule(Now + Math.Max(1, Config.TransactionAbortTimedOutTransactionCleanupIntervalMs), AbortTimedOut);
    }

    /// <summary>Aborts every Ongoing transaction older than its timeout by the node's wall clock, bumping the
    /// epoch first (Kafka's PrepareEpochFence): the stuck producer is fenced and its late writes are refused.</summary>
    private void AbortTimedOut()
    {
        _timeoutTimer = null;
        long wall = WallNow;
        foreach (var txn in _txns.Values.ToList())
        {
            if (txn.State != TxnState.Ongoing || txn.PendingWrite) continue;
            if (txn.StartTimestampMs < 0 || txn.StartTimestampMs + txn.TimeoutMs > wall) continue;
            _broker.Log.Info("Transaction {Id} (producer {ProducerId} epoch {Epoch}) timed out after {Timeout} ms; aborting",
                txn.TransactionalId, txn.ProducerId, txn.ProducerEpoch, txn.TimeoutMs);
            FenceAndAbort(txn, _ => { });
        }
        ScheduleTimeouts();
    }

    /// <summary>Bumps the epoch of an Ongoing transaction and aborts it under the new epoch.</summary>
    private void FenceAndAbort(TransactionMetadata txn, Action<ErrorCode> done)
    {
        Check.That(txn.State == TxnState.Ongoing && !txn.PendingWrite);
        short old = txn.ProducerEpoch;
        if (old >= EpochMax)
        {
            // No epoch left to fence with: abort under the current one (Kafka does the same).
            WriteState(txn, txn.ToRecord() with { State = TxnState.PrepareAbort, LastUpdateTimestampMs = WallNow }, e =>
            {
                if (e == ErrorCode.None) WriteMarkersAndComplete(txn);
                done(e);
            });
            return;
        }
        // An id that bumps at every EndTxn (v5) is fenced past the epoch a retry of its EndTxn would name (Kafka's
        // PrepareEpochFence plus the abort's own bump): the fenced producer's delayed EndTxn is refused, not
        // taken for a retry of this abort.
        short fenced = (short)(txn.BumpsEpochPerTransaction && old + 2 <= EpochMax ? old + 2 : old + 1);
        var target = txn.ToRecord() with { ProducerEpoch = fenced, State = TxnState.PrepareAbort, LastUpdateTimestampMs = WallNow, NextProducerId = -1 };
        WriteState(txn, target, e =>
        {
            if (e == ErrorCode.None)
            {
                txn.LastProducerEpoch = old;
                WriteMarkersAndComplete(txn);
            }
            done(e);
        });
    }
}

/// <summary>Test-only switches that break one transactional behaviour each (TRANSACTIONS.md).</summary>
[Flags]
public enum TransactionFaults
{
    None = 0,
    /// <summary>Fetch and ListOffsets report the high watermark as the last stable offset (open data leaks).</summary>
    LsoIgnoresOpenTransactions = 1,
    /// <summary>An abort writes no markers: its data is never marked aborted.</summary>
    SkipAbortMarkers = 2,
    /// <summary>Transactional produces are not checked against the producer's ongoing transaction.</summary>
    SkipProduceVerification = 4,
    /// <summary>Pending transactional offsets are applied on an abort marker too.</summary>
    ApplyPendingOffsetsOnAbort = 8,
    /// <summary>A read_committed fetch reads up to the high watermark while it reports the true last stable offset.</summary>
    ReadCommittedIgnoresLso = 16,
    /// <summary>Markers are not checked for a stale coordinator epoch or producer epoch (a delayed marker applies).</summary>
    AcceptStaleMarkers = 32,
    /// <summary>The coordinator completes a transaction without waiting for its markers, so the producer's next
    /// transaction can begin while a marker of this one is still on its way.</summary>
    CompleteBeforeMarkers = 64,
    /// <summary>A __transaction_state write (the prepare record of EndTxn among them) is answered at the leader's append,
    /// before a majority (or the disk) has it: a coordinator that dies then loses what it acknowledged.</summary>
    AnswerBeforeReplicated = 256,
    /// <summary>A new coordinator loads its __transaction_state partition up to the log end at once, without waiting
    /// for its epoch's first entry to commit: records above the high watermark are acted on.</summary>
    LoadAboveHighWatermark = 512,
    /// <summary>EndTxn v5 is served as v4: the epoch is not bumped at the end of a transaction, so a delayed
    /// EndTxn of transaction N can end transaction N+1 (the anomaly KIP-890 part 2 closes).</summary>
    SkipEndTxnEpochBump = 128,
}
