using DetKafka.Core.Abstractions;
using DetKafka.Core.Client;
using DetKafka.Core.Util;

namespace DetKafka.Core.Broker;

// The node network's outbound direction: the node as a client of its peers, through the project's KafkaClient
// over the node's own INetwork (PeerNetwork). Outbound connections get the inputs below; their bytes and closes
// arrive through OnReceive / OnConnectionClosed like any connection's and are routed by id.
public sealed partial class BrokerNode
{
    private PeerNetwork? _peers;

    /// <summary>The node's client of its peers, once <see cref="StartPeerClient"/> made it; null on a node that
    /// talks to no peer (a single node today).</summary>
    public KafkaClient? PeerClient => _peers?.Client;

    /// <summary>Outbound connections open or being opened.</summary>
    public int PeerConnectionCount => _peers?.OutboundCount ?? 0;

    /// <summary>Makes the node a client of its peers (bootstrap: <paramref name="options"/>). Its requests,
    /// responses, timeouts and reconnects are the client's, driven by this node's inputs and <see cref="Poll"/>.</summary>
    public KafkaClient StartPeerClient(KafkaClientOptions options)
    {
        Check.That(_peers is null, "one peer client per node");
        _peers = new PeerNetwork(this, options);
        return _peers.Client;
    }

    /// <summary>An outbound connection (<see cref="INetwork.Connect"/>) is established.</summary>
    public void OnConnected(ConnectionId id)
    {
        if (_peers is { } peers && peers.Owns(id)) peers.OnConnected(id);
        EndStep();
    }

    /// <summary>An outbound connection could not be opened (refused, unreachable, timed out).</summary>
    public void OnConnectFailed(ConnectionId id)
    {
        _peers?.OnClosed(id);
        EndStep();
    }

    /// <summary>Routes an input of an outbound connection to the peer client; false for an accepted one.</summary>
    private bool TryPeerReceive(ConnectionId id, ReadOnlySpan<byte> data)
    {
        if (_peers is not { } peers || !peers.Owns(id)) return false;
        peers.OnReceive(id, data);
        EndStep();
        return true;
    }

    private bool TryPeerClosed(ConnectionId id)
    {
        if (_peers is not { } peers || !peers.Owns(id)) return false;
        peers.OnClosed(id);
        EndStep();
        return true;
    }

    private void PollPeers()
    {
        if (_peers is { } peers && peers.Client.NextDeadlineMs <= Clock.MonotonicMs) peers.Client.Poll();
    }

    private long PeersNextDeadlineMs => _peers?.Client.NextDeadlineMs ?? long.MaxValue;
}
