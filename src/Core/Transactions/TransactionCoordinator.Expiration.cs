using DetKafka.Core.Broker;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Groups;
using DetKafka.Core.Protocol;
using DetKafka.Core.Records;
using DetKafka.Core.Util;

namespace DetKafka.Core.Transactions;

// transactional.id.expiration.ms (Kafka's TransactionStateManager.removeExpiredTransactionalIds): an id with no
// transaction in progress (Empty, CompleteCommit, CompleteAbort) whose last update is older than the expiration is
// removed with a tombstone in __transaction_state, so the coordinator's memory is bounded by the ids in use. Its
// next InitProducerId gets a new producer id at epoch 0, as for a new id.
public sealed partial class TransactionCoordinator
{
    /// <summary>Ids removed by one pass at most (the rest wait for the next pass).</summary>
    private const int ExpiredIdsPerPassMax = 1_000;

    private TimerHandle? _expirationTimer;

    /// <summary>Ids removed by expiration since start (for tests and operators).</summary>
    public long ExpiredTransactionalIds { get; private set; }

    private void ScheduleExpiration()
    {
        if (_expirationTimer is { IsCancelled: false } t && t.DeadlineMs > Now) return;
        _expirationTimer = _broker.Timers.Schedule(Now + Math.Max(1, Config.TransactionRemoveExpiredTransactionCleanupIntervalMs), RemoveExpired);
    }

    private void RemoveExpired()
    {
        _expirationTimer = null;
        long wall = WallNow;
        int removed = 0;
        foreach (var txn in _txns.Values.ToList())
        {
            if (removed >= ExpiredIdsPerPassMax) break;
            if (txn.PendingWrite || txn.WritingMarkers) continue;
            if (txn.State is not (TxnState.Empty or TxnState.CompleteCommit or TxnState.CompleteAbort)) continue;
            if (txn.LastUpdateTimestampMs < 0 || txn.LastUpdateTimestampMs + Config.TransactionalIdExpirationMs > wall) continue;
            removed++;
            WriteTombstone(txn);
        }
        ScheduleExpiration();
    }

    /// <summary>Writes the id's tombstone; once durable (and if nothing touched the id meanwhile) forgets it.</summary>
    private void WriteTombstone(TransactionMetadata txn)
    {
        var log = _broker.Replicas.GetPartition(TransactionRecords.StateTopic, PartitionFor(txn.TransactionalId));
        if (log is null) return;
        long wall = WallNow;
        var batch = RecordBatchBuilder.Build([new SimpleRecord(TransactionRecords.Key(txn.TransactionalId), null, wall)]);
        txn.PendingWrite = true;
        long updated = txn.LastUpdateTimestampMs;
        var appended = AppendDurably(log, batch, wall, fromCoordinator: false, error =>
        {
            txn.PendingWrite = false;
            if (error != ErrorCode.None || txn.LastUpdateTimestampMs != updated) return;
            Check.That(txn.State is TxnState.Empty or TxnState.CompleteCommit or TxnState.CompleteAbort, "only idle ids expire");
            if (!IsCurrent(txn)) return; // unloaded meanwhile
            _txns.Remove(txn.TransactionalId);
            if (_byProducerId.TryGetValue(txn.ProducerId, out var id) && id == txn.TransactionalId) _byProducerId.Remove(txn.ProducerId);
            ExpiredTransactionalIds++;
            _broker.Log.Info("Transactional id {Id} (producer {ProducerId}) expired after {Ms} ms without use",
                txn.TransactionalId, txn.ProducerId, Config.TransactionalIdExpirationMs);
        });
        if (appended != ErrorCode.None) txn.PendingWrite = false; // tried again at the next pass
    }
}
