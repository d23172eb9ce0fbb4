namespace DetKafka.Core.Abstractions;

/// <summary>A connection as Core sees it: an opaque id chosen by the driver (host or simulator).</summary>
public readonly record struct ConnectionId(long Value)
{
    public override string ToString() => "conn-" + Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>
/// Core's door to the network. It promises neither timing nor delivery: the host maps it to sockets, the
/// simulator to links that delay, drop, duplicate and reorder. Inbound bytes come back to Core as
/// <c>BrokerNode.OnReceive</c> inputs. Node-to-node traffic (replication, a later issue) uses the same
/// connections and the same Kafka wire encoding: <see cref="Connect"/> opens an outbound one.
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

    /// <summary>Open an outbound connection to another node (cluster issues). Single-node hosts may throw.</summary>
    ConnectionId Connect(int nodeId);
}
