using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Client;
using DetKafka.Core.Groups;
using DetKafka.Core.Partitions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Util;

namespace DetKafka.Core.Transactions;

// The transaction coordinator follows partition leadership (quorum mode; REPLICATION.md "Coordinators on replicated
// partitions", TRANSACTIONS.md "In a cluster"), by the rule the group coordinator follows (Broker/CoordinatorLeadership.cs):
// a node coordinates the transactional ids of a __transaction_state partition while it leads it, once it has loaded the
// partition below its high watermark in its epoch. Loading finishes what the previous coordinator left: a transaction
// found in PrepareCommit/PrepareAbort gets its markers written and its completion record (Kafka's
// TransactionStateManager does the same at load); an Ongoing one is left Ongoing, so its producer may still end it
// here, and transaction.timeout.ms aborts it otherwise. The coordinator epoch carried by markers is the partition's
// leader epoch (Kafka's coordinatorEpoch), so markers from a deposed coordinator lose to the new one's. State records
// and markers are written through PartitionReplica with acks=all; markers for partitions led elsewhere go to their
// leader as WriteTxnMarkers over the peer client.
public sealed partial class TransactionCoordinator
{
    private CoordinatorLeadership? _leadershipState;
    private CoordinatorLeadership Leadership => _leadershipState ??= new CoordinatorLeadership(_broker, TransactionRecords.StateTopic,
        LoadPartition, UnloadPartition, () => (Faults & TransactionFaults.LoadAboveHighWatermark) != 0);

    /// <summary>__transaction_state partitions this node coordinates and has loaded (quorum mode; tests).</summary>
    public IEnumerable<int> LoadedPartitions => Leadership.LoadedPartitions;

    /// <summary>Transactions found in PrepareCommit/PrepareAbort when this node loaded a partition (their markers and
    /// completion written here): the previous coordinator answered EndTxn and stopped before it finished.</summary>
    public int PreparedFinishedOnLoad { get; private set; }

    /// <summary>A __transaction_state partition's role, epoch or high watermark moved: load, keep waiting, or unload.</summary>
    internal void OnStatePartitionMoved(Partition partition) => Leadership.OnMoved(partition);

    /// <summary>The coordinator epoch for the markers of <paramref name="txn"/>: its partition's leader epoch at load in
    /// a quorum, the node's epoch (bumped at every start) on one node.</summary>
    private int EpochFor(TransactionMetadata txn)
        => _broker.IsQuorumMode ? Leadership.LoadedEpoch(PartitionFor(txn.TransactionalId)) : CoordinatorEpoch;

    /// <summary>Whether <paramref name="txn"/> is still this coordinator's (not unloaded, expired or replaced): a retry
    /// scheduled for a transaction this node no longer coordinates is dropped.</summary>
    private bool IsCurrent(TransactionMetadata txn)
        => _txns.TryGetValue(txn.TransactionalId, out var t) && ReferenceEquals(t, txn);

    /// <summary>Replays partition <paramref name="p"/> below <paramref name="upTo"/> and finishes its prepared transactions.</summary>
    private void LoadPartition(int p, long upTo)
    {
        long records = Replay(p, upTo);
        int prepared = 0;
        foreach (var txn in _txns.Values.Where(t => PartitionFor(t.TransactionalId) == p).ToList())
            if (txn.State is TxnState.PrepareCommit or TxnState.PrepareAbort)
            {
                prepared++;
                PreparedFinishedOnLoad++;
                _broker.Log.Info("Transaction {Id}: found {State} on becoming coordinator; writing its markers", txn.TransactionalId, txn.State);
                WriteMarkersAndComplete(txn);
            }
        ScheduleTimeouts();
        ScheduleExpiration();
        _broker.Log.Info("Loaded {Records} records of {Topic}-{Partition} below offset {End} in epoch {Epoch} ({Prepared} prepared transactions to finish)",
            records, TransactionRecords.StateTopic, p, upTo, Leadership.LoadedEpoch(p), prepared);
    }

    /// <summary>Forgets the transactional ids of partition <paramref name="p"/>: their writes in flight end with
    /// NOT_LEADER_OR_FOLLOWER through the replica's completion (NOT_COORDINATOR to the client), their retries stop.</summary>
    private void UnloadPartition(int p, string why)
    {
        int dropped = 0;
        foreach (var txn in _txns.Values.Where(t => PartitionFor(t.TransactionalId) == p).ToList())
        {
            _txns.Remove(txn.TransactionalId);
            if (_byProducerId.TryGetValue(txn.ProducerId, out var id) && id == txn.TransactionalId) _byProducerId.Remove(txn.ProducerId);
            dropped++;
        }
        _broker.Log.Info("Unloaded {Count} transactional ids of {Topic}-{Partition}: {Why}", dropped, TransactionRecords.StateTopic, p, why);
    }

    /// <summary>
    /// Appends <paramref name="batch"/> to <paramref name="partition"/> (led here) and calls <paramref name="durable"/>
    /// once it may be acted on: a replicated partition's high watermark passed it (acks=all, through PartitionReplica),
    /// or a single replica's sync covered it. Returns the append's own error (then <paramref name="durable"/> is never
    /// called). <paramref name="planted"/> is the test-only answer-before-replicated bug.
    /// </summary>
    private ErrorCode AppendDurably(Partition partition, ReadOnlyMemory<byte> batch, long wall, bool fromCoordinator, Action<ErrorCode> durable,
        bool planted = false)
    {
        long lastOffset;
        ReplicatedAppend? replicated = null;
        if (partition.Replica is not null)
        {
            var appended = _broker.ProduceReplicated(partition, batch, -1, wall, fromCoordinator);
            if (appended.Error != ErrorCode.None) return appended.Error;
            lastOffset = appended.LastOffset;
            replicated = appended;
        }
        else
        {
            var result = _broker.Replicas.AppendRecordsToLeader(partition, batch, wall, fromCoordinator);
            if (result.Error != ErrorCode.None) return result.Error;
            lastOffset = result.LastOffset;
        }
        // Planted bug: answered at the leader's append, before any follower (or disk) has the record.
        var op = planted
            ? new DelayedGroupWrite(_broker, partition, 0, durable)
            : new DelayedGroupWrite(_broker, partition, lastOffset + 1, durable, replicated);
        _broker.Replicas.StartSyncs(Now);
        if (!op.TryComplete()) _broker.Purgatory.Add(op, Now + Config.OffsetCommitTimeoutMs);
        return ErrorCode.None;
    }

    /// <summary>Requests to other leaders in flight at most (each marker of a partition led elsewhere is one).</summary>
    private const int ForwardedMarkersMax = 10_000;
    private int _forwardedMarkers;

    /// <summary>
    /// A marker for a partition this node does not lead (quorum mode): WriteTxnMarkers to its leader as this node knows
    /// it, over the peer client. NOT_LEADER_OR_FOLLOWER when no leader is known or reachable, or the request is lost:
    /// the coordinator retries the marker (a second marker for the same transaction ends nothing).
    /// </summary>
    private void ForwardMarker(long producerId, short producerEpoch, bool commit, int coordinatorEpoch, TopicPartition tp, Action<ErrorCode> done)
    {
        if (_broker.FindTopic(tp.Topic) is not { } topic || tp.Partition < 0 || tp.Partition >= topic.PartitionCount)
        {
            done(ErrorCode.UnknownTopicOrPartition);
            return;
        }
        int leader = _broker.PartitionLeaderId(topic, tp.Partition);
        if (leader < 0 || leader == Config.NodeId || _forwardedMarkers >= ForwardedMarkersMax || _broker.PeerClient is not { } client || !client.Ready(leader))
        {
            done(ErrorCode.NotLeaderOrFollower);
            return;
        }
        _forwardedMarkers++;
        client.Send(leader, ApiKey.WriteTxnMarkers, new WriteTxnMarkersRequest
        {
            Markers =
            [
                new WriteTxnMarkersRequest.WritableTxnMarker
                {
                    ProducerId = producerId, ProducerEpoch = producerEpoch, TransactionResult = commit, CoordinatorEpoch = coordinatorEpoch,
                    Topics = [new WriteTxnMarkersRequest.WritableTxnMarkerTopic { Name = tp.Topic, PartitionIndexes = [tp.Partition] }],
                },
            ],
        }, r =>
        {
            _forwardedMarkers--;
            if (r.Status != ResponseStatus.Ok || r.Body is not WriteTxnMarkersResponse answer)
            {
                done(ErrorCode.NotLeaderOrFollower);
                return;
            }
            var error = answer.Markers.SelectMany(m => m.Topics).Where(t => t.Name == tp.Topic).SelectMany(t => t.Partitions)
                .Where(x => x.PartitionIndex == tp.Partition).Select(x => (ErrorCode?)x.ErrorCode).FirstOrDefault();
            done(error ?? ErrorCode.NotLeaderOrFollower);
        });
    }
}
