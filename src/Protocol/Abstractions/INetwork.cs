namespace DetKafka.Core.Abstractions;

/// <summary>A connection as Core sees it: an opaque id chosen by the driver (host or simulator).</summary>
public readonly record struct ConnectionId(long Value)
{
    public override string ToString() => "conn-" + Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>
/// Core's door to the network. It promises neither timing nor delivery: the host maps it to sockets, the
/// simulator to links that delay, drop, duplicate and reorder. Inbound bytes come back to Core as
/// <c>BrokerNode.OnReceive</c> inputs. Both directions share it: <see cref="Connect"/> opens an outbound
/// connection to a peer, which the driver reports with <c>BrokerNode.OnConnected</c> or
/// <c>BrokerNode.OnConnectFailed</c>; its bytes and its close then arrive as for any connection. The node
/// speaks to peers through the client's own framer and codec (<c>BrokerNode.PeerClient</c>).
/// </summary>
public interface INetwork
{
    /// <summary>Queue bytes on a connection. The callee copies them before returning.</summary>
    void Send(ConnectionId connection, ReadOnlySpan<byte> bytes);

    /// <summary>Close a connection (after flushing what was queued). No further input arrives for it.</summary>
    void Close(ConnectionId connection);

    /// <summary>Backpressure: Core asks the driver to stop (false) or resume (true) reading from a connection
    /// when it holds too many in-flight requests or buffered bytes for it.</summary>
    void SetReceiveEnabled(ConnectionId connection, bool enabled);

    /// <summary>Starts opening an outbound connection to a peer's advertised address. The id is the driver's,
    /// unique among all connections; exactly one of <c>OnConnected</c> or <c>OnConnectFailed</c> follows,
    /// never from inside this call.</summary>
    ConnectionId Connect(string host, int port);
}
