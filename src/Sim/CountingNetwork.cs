using DetKafka.Core.Abstractions;

namespace DetKafka.Sim;

/// <summary>An <see cref="INetwork"/> that only counts what Core sends, so a benchmark or an allocation test
/// measures Core and not a network's copies. Closing or pausing a connection is a bug there: it throws.</summary>
public sealed class CountingNetwork : INetwork
{
    public long Sends { get; private set; }
    public long BytesSent { get; private set; }

    public void Send(ConnectionId connection, ReadOnlySpan<byte> bytes)
    {
        Sends++;
        BytesSent += bytes.Length;
    }

    public void Close(ConnectionId connection) => throw new InvalidOperationException($"the broker closed {connection}");

    public void SetReceiveEnabled(ConnectionId connection, bool enabled)
    {
        if (!enabled) throw new InvalidOperationException($"the broker paused {connection}");
    }

    public ConnectionId Connect(string host, int port) => throw new NotSupportedException("single node");
}
