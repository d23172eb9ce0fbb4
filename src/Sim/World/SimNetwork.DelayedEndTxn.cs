using System.Buffers.Binary;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Util;
using DetKafka.Sim.Trace;

namespace DetKafka.Sim.World;

// The delayed-EndTxn fault (SIMULATION.md, "delayed-end-txn"; TRANSACTIONS.md, KIP-890 part 2). Jepsen found in
// Kafka that an EndTxn of transaction N, held in the network past the moment the producer (having retried it and
// been answered) started transaction N+1, ends N+1 when it finally arrives: both carry the same producer id and
// epoch. The fault makes that moment happen on purpose: with the fault's intensity a client's EndTxn frame is kept
// (the original goes on as usual), and a copy of it arrives at the same node, on a connection of its own that the
// broker answers into the void, just before that client's next EndTxn to the node sent at least the fault's
// duration later: the moment transaction N+1 is open with its records written. A coordinator that bumps the epoch
// at every EndTxn (v5) refuses the copy; one that does not ends N+1 with N's decision, and the history checker
// sees it (an abort's records visible: G1a).
public sealed partial class SimNetwork
{
    /// <summary>Stale EndTxn copies held at most (one per client and node at a time, so this is a backstop).</summary>
    public const int StaleEndTxnsMax = 1_000;

    /// <summary>A copy held past this long is delivered anyway (its client never sent another EndTxn there).</summary>
    private const long StaleEndTxnHoldMaxUs = 20_000_000;

    private sealed class StaleEndTxn(byte[] frame, long releaseAfterUs, long keptAtUs)
    {
        public readonly byte[] Frame = frame;
        public readonly long ReleaseAfterUs = releaseAfterUs;
        public readonly long KeptAtUs = keptAtUs;
        public bool Delivered;
    }

    private readonly Dictionary<(int Client, int Node), StaleEndTxn> _staleEndTxns = new();

    /// <summary>Stale EndTxn copies delivered so far (tests read it to know the fault did its work).</summary>
    public int StaleEndTxnsDelivered { get; private set; }

    /// <summary>A client sends <paramref name="bytes"/> (one request frame, as KafkaClient writes them) to a node.</summary>
    private void OnClientFrame(ClientHost client, SimNode node, SimConnection c, ReadOnlySpan<byte> bytes)
    {
        var fault = _world.Options.Fault(FaultKind.DelayedEndTxn);
        if (!fault.Enabled || client.Raw?.Owns(new ConnectionId(c.Id)) == true) return;
        // size, api key, api version, correlation id: a whole EndTxn frame, nothing else.
        if (bytes.Length < 12 || BinaryPrimitives.ReadInt32BigEndian(bytes) != bytes.Length - 4) return;
        if (BinaryPrimitives.ReadInt16BigEndian(bytes[4..]) != (short)ApiKey.EndTxn) return;
        var key = (client.Index, node.Index);
        if (_staleEndTxns.TryGetValue(key, out var held) && !held.Delivered)
        {
            if (_world.NowUs < held.ReleaseAfterUs) return; // too early: this EndTxn may still be the same transaction's
            Deliver(client, node, key, held, "before the client's next EndTxn");
        }
        if (!_random.NextBool(fault.Intensity)) return;
        Check.That(_staleEndTxns.Count < StaleEndTxnsMax, "stale EndTxn copies are bounded");
        long now = _world.NowUs;
        var copy = new StaleEndTxn(bytes.ToArray(), now + Math.Max(1, fault.DurationMaxMs) * 1000, now);
        _staleEndTxns[key] = copy;
        _world.Count("fault.delayed-end-txn.kept");
        _world.Note(client.Name, "delayed-end-txn", $"conn-{c.Id} EndTxn to {node.Name} kept for late delivery");
        _world.Schedule(now + StaleEndTxnHoldMaxUs, node.Name, "delayed-end-txn", () =>
            (TraceDetails)(copy.Delivered ? null : Deliver(client, node, key, copy, "after the longest hold")));
    }

    /// <summary>Schedules the copy to arrive now, ahead of the frame being sent (whose arrival is at least the
    /// smallest latency away).</summary>
    private string? Deliver(ClientHost client, SimNode node, (int, int) key, StaleEndTxn copy, string when)
    {
        copy.Delivered = true;
        if (_staleEndTxns.TryGetValue(key, out var current) && ReferenceEquals(current, copy)) _staleEndTxns.Remove(key);
        long heldMs = (_world.NowUs - copy.KeptAtUs) / 1000;
        _world.Schedule(_world.NowUs + 1, node.Name, "delayed-end-txn", () => DeliverNow(client, node, copy, heldMs, when));
        return null;
    }

    private TraceDetails DeliverNow(ClientHost client, SimNode node, StaleEndTxn copy, long heldMs, string when)
    {
        {
            if (node.Paused || _world.BeginNodeInput(node) is not { } broker)
            {
                _world.Count("fault.delayed-end-txn.dropped");
                return "stale EndTxn copy dropped (node down or paused)";
            }
            // A connection of its own, never registered here: the broker's answer goes nowhere.
            var ghost = new ConnectionId(++_nextConnectionId);
            broker.OnConnectionOpened(ghost);
            broker.OnReceive(ghost, copy.Frame);
            _world.EndNodeInput(node);
            StaleEndTxnsDelivered++;
            _world.Count("fault.delayed-end-txn.delivered");
            _world.Schedule(_world.NowUs + 5_000_000, node.Name, "delayed-end-txn", () =>
            {
                if (node.Paused || _world.BeginNodeInput(node) is not { } b) return (TraceDetails)null;
                b.OnConnectionClosed(ghost);
                _world.EndNodeInput(node);
                return (TraceDetails)"stale EndTxn connection closed";
            });
            return $"stale EndTxn from {client.Name}, held {heldMs} ms, delivered {when}";
        }
    }
}
