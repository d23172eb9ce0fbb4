using DetKafka.Core.Abstractions;

namespace DetKafka.Sim;

/// <summary>
/// An INetwork that records what Core sends, per connection, in order: the simplest simulated network
/// (no delay, no loss), for tests that drive one broker directly. Received bytes are kept as a stream per
/// connection so a test can cut frames out of it with the shared framer.
/// </summary>
public sealed class RecordingNetwork : INetwork
{
    private readonly Dictionary<ConnectionId, List<byte>> _sent = new();

    public List<(ConnectionId Connection, byte[] Bytes)> Log { get; } = new();
    public HashSet<ConnectionId> Closed { get; } = new();
    public Dictionary<ConnectionId, bool> ReceiveEnabled { get; } = new();

    public void Send(ConnectionId connection, ReadOnlySpan<byte> bytes)
    {
        var copy = bytes.ToArray();
        Log.Add((connection, copy));
        if (!_sent.TryGetValue(connection, out var stream)) _sent[connection] = stream = new List<byte>();
        stream.AddRange(copy);
    }

    public void Close(ConnectionId connection) => Closed.Add(connection);

    public void SetReceiveEnabled(ConnectionId connection, bool enabled) => ReceiveEnabled[connection] = enabled;

    public ConnectionId Connect(string host, int port) => throw new NotSupportedException("single node");

    /// <summary>Removes and returns complete response payloads sent on a connection so far.</summary>
    public List<byte[]> TakeFrames(ConnectionId connection)
    {
        var frames = new List<byte[]>();
        if (!_sent.TryGetValue(connection, out var stream)) return frames;
        var bytes = stream.ToArray();
        int at = 0;
        while (Core.Protocol.Frame.TryReadFrame(bytes.AsSpan(at), int.MaxValue, out int length) == Core.Protocol.FrameStatus.Complete)
        {
            frames.Add(bytes.AsSpan(at + 4, length).ToArray());
            at += 4 + length;
        }
        stream.RemoveRange(0, at);
        return frames;
    }
}
