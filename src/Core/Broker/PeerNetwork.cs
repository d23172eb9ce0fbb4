using DetKafka.Core.Abstractions;
using DetKafka.Core.Client;
using DetKafka.Core.Util;

namespace DetKafka.Core.Broker;

/// <summary>
/// The node's outbound side: a <see cref="KafkaClient"/> (the same framer, codec, version negotiation, timeouts
/// and reconnect backoff as every client of this project) whose <see cref="IClientNetwork"/> is the node's own
/// <see cref="INetwork"/>. Outbound connections are told apart from accepted ones by their id, so the node's
/// inputs route their bytes, connects and closes here. Replica fetches, Raft messages and transaction markers
/// are sent through it (REPLICATION.md).
/// </summary>
internal sealed class PeerNetwork : IClientNetwork
{
    /// <summary>Outbound connections open at once: bounded, as accepted ones are by max.connections.</summary>
    private const int OutboundMax = 1024;

    private readonly BrokerNode _node;
    private readonly Dictionary<ConnectionId, bool> _outbound = new();

    public PeerNetwork(BrokerNode node, KafkaClientOptions options)
    {
        _node = node;
        Client = new KafkaClient(options, node.Clock, this, node.Random);
    }

    public KafkaClient Client { get; }

    public bool Owns(ConnectionId id) => _outbound.ContainsKey(id);

    public int OutboundCount => _outbound.Count;

    ConnectionId IClientNetwork.Connect(BrokerAddress address)
    {
        Check.That(_outbound.Count < OutboundMax, "outbound connections bounded");
        var id = _node.Network.Connect(address.Host, address.Port);
        _outbound.Add(id, true);
        return id;
    }

    void IClientNetwork.Send(ConnectionId connection, ReadOnlySpan<byte> bytes) => _node.Network.Send(connection, bytes);

    void IClientNetwork.Close(ConnectionId connection)
    {
        if (_outbound.Remove(connection)) _node.Network.Close(connection);
    }

    public void OnConnected(ConnectionId id) => Client.OnConnected(id);

    public void OnReceive(ConnectionId id, ReadOnlySpan<byte> data) => Client.OnReceive(id, data);

    /// <summary>The connection closed, or never opened: the client retries with its backoff.</summary>
    public void OnClosed(ConnectionId id)
    {
        if (_outbound.Remove(id)) Client.OnClosed(id);
    }
}
