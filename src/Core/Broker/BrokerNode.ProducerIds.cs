using DetKafka.Core.Abstractions;
using DetKafka.Core.Client;
using DetKafka.Core.Metadata;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Broker;

// Producer id blocks in a quorum (KIP-730, REPLICATION.md "Producer ids in a quorum"): a node hands out producer ids
// from a block it holds; a new block is a ProducerIdsRecord committed to the metadata log before any of its ids is
// used. The controller proposes that record itself; any other node asks the controller with AllocateProducerIds (API
// 67) over the peer client, and the controller answers once the record commits. Without a block InitProducerId answers
// COORDINATOR_LOAD_IN_PROGRESS (Kafka's broker does the same while its next block is on the way): the client retries.
// Single-node mode keeps the synchronous path (AllocateProducerId commits the block at once).
public sealed partial class BrokerNode
{
    /// <summary>A block request in flight (at most one), and when it is considered lost.</summary>
    private bool _producerIdBlockRequested;
    private long _producerIdBlockRequestDeadlineMs;

    /// <summary>InitProducerId's allocation: an id, or the error to answer. Quorum mode never blocks: without a
    /// block it starts getting one and answers COORDINATOR_LOAD_IN_PROGRESS.</summary>
    internal ErrorCode TryAllocateProducerId(out long id)
    {
        id = -1;
        if (IsQuorumMode && _nextProducerId >= _producerIdBlockEnd)
        {
            RequestProducerIdBlock();
            if (_nextProducerId >= _producerIdBlockEnd) return ErrorCode.CoordinatorLoadInProgress;
        }
        try
        {
            id = AllocateProducerId();
            return ErrorCode.None;
        }
        catch (StorageException e)
        {
            Log.Error("InitProducerId: could not take a producer id block: {Error}", e.Message);
            return ErrorCode.KafkaStorageError;
        }
    }

    /// <summary>Starts getting a new block (quorum mode), unless a request is already in flight.</summary>
    internal void RequestProducerIdBlock()
    {
        long now = Clock.MonotonicMs;
        if (_producerIdBlockRequested && now < _producerIdBlockRequestDeadlineMs) return;
        _producerIdBlockRequested = true;
        _producerIdBlockRequestDeadlineMs = now + Config.ControllerQuorum.RequestTimeoutMs;
        if (IsController)
        {
            var error = ProposeProducerIdBlock(Config.NodeId, out long offset, out long start);
            if (error != ErrorCode.None)
            {
                _producerIdBlockRequested = false;
                return;
            }
            WhenMetadataResolved(offset, committed =>
            {
                _producerIdBlockRequested = false;
                if (offset <= committed) InstallProducerIdBlock(start, (int)ProducerIdBlockSize);
            });
            return;
        }
        int controller = ControllerId;
        if (controller < 0 || PeerClient is not { } client || !client.Ready(controller))
        {
            _producerIdBlockRequested = false;
            return;
        }
        client.Send(controller, ApiKey.AllocateProducerIds, new AllocateProducerIdsRequest { BrokerId = Config.NodeId, BrokerEpoch = -1 }, r =>
        {
            _producerIdBlockRequested = false;
            if (r.Status != ResponseStatus.Ok || r.Body is not AllocateProducerIdsResponse answer)
            {
                Log.Warn("AllocateProducerIds at node {Controller}: no answer ({Status})", controller, r.Status);
                return;
            }
            if (answer.ErrorCode != ErrorCode.None)
            {
                Log.Warn("AllocateProducerIds at node {Controller}: {Error}", controller, answer.ErrorCode);
                return;
            }
            if (answer.ProducerIdStart < 0 || answer.ProducerIdLen <= 0 || answer.ProducerIdLen > 1_000_000)
            {
                Log.Warn("AllocateProducerIds at node {Controller}: an invalid block ({Start}, {Length}) ignored", controller,
                    answer.ProducerIdStart, answer.ProducerIdLen);
                return;
            }
            InstallProducerIdBlock(answer.ProducerIdStart, answer.ProducerIdLen);
        });
    }

    /// <summary>The controller takes the next block for <paramref name="brokerId"/>: a ProducerIdsRecord proposed to the
    /// metadata log (ids below <c>start + block</c> are taken once it commits). NOT_CONTROLLER elsewhere.</summary>
    internal ErrorCode ProposeProducerIdBlock(int brokerId, out long offset, out long start)
    {
        start = -1;
        offset = -1;
        if (!IsController) return ErrorCode.NotController;
        start = _controller.NextProducerId;
        long end = checked(start + ProducerIdBlockSize);
        var (error, _) = Propose([new ProducerIdsRecord(brokerId, end)], $"producer ids [{start}, {end}) for node {brokerId}", out offset);
        return error;
    }

    /// <summary>A committed block arrived: ids from <paramref name="start"/> are this node's (blocks only grow, so an
    /// older answer arriving late never hands out an id twice).</summary>
    private void InstallProducerIdBlock(long start, int length)
    {
        long end = checked(start + length);
        if (end <= _producerIdBlockEnd) return;
        // Never below an id this node may have used (its old block, or the largest id its logs saw at start-up).
        _nextProducerId = Math.Min(Math.Max(start, _nextProducerId), end);
        _producerIdBlockEnd = end;
        Log.Info("Node {NodeId}: producer ids [{Start}, {End}) are this node's", Config.NodeId, start, end);
    }
}
