using System.Globalization;
using DetKafka.Core.Abstractions;

namespace DetKafka.Core.Client;

/// <summary>Where a broker listens: the bootstrap list and Metadata's broker entries name them this way.</summary>
public readonly record struct BrokerAddress(string Host, int Port)
{
    public override string ToString() => Host + ":" + Port.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// The client's door to the network, the mirror of <see cref="INetwork"/>: the driver (the simulator's
/// workload, or the load generator over real sockets) opens connections, carries bytes and reports back
/// with the client's inputs <see cref="KafkaClient.OnConnected"/>, <see cref="KafkaClient.OnReceive"/> and
/// <see cref="KafkaClient.OnClosed"/>. A connection is an ordered byte stream: bytes arrive in the order
/// sent, or the connection closes.
/// </summary>
public interface IClientNetwork
{
    /// <summary>Starts connecting. Exactly one of OnConnected or OnClosed follows later for the returned id,
    /// never from inside this call.</summary>
    ConnectionId Connect(BrokerAddress address);

    /// <summary>Queues bytes on an established connection. The callee copies them before returning.</summary>
    void Send(ConnectionId connection, ReadOnlySpan<byte> bytes);

    /// <summary>Closes a connection the client no longer wants. No input arrives for it afterwards.</summary>
    void Close(ConnectionId connection);
}
