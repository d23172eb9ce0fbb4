using System.Buffers.Binary;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Client;
using DetKafka.Core.Protocol;
using DetKafka.Sim.World;

namespace DetKafka.Sim.Reach;

/// <summary>What became of one hand-framed request: the decoded answer, an answer that did not decode or carried
/// another correlation id (always a violation), the connection closing first, or the admin process giving up.</summary>
public enum RawStatus { Answered, Undecodable, WrongCorrelation, Closed, GaveUp }

public sealed record RawOutcome(RawStatus Status, IKafkaMessage? Body, string? Detail);

/// <summary>
/// The admin process's hand-framed connections (SIMULATION.md, "Raw requests and malformed input"): requests the
/// simulated KafkaClient does not speak (the transaction APIs, KIP-848's, ApiVersions at every version) and bytes no
/// client should send (truncated frames, oversized sizes, unknown API keys and versions, corrupt record batches,
/// garbage after a header). Each connection keeps its requests in order and matches answers by position and
/// correlation id, as Kafka's in-order responses allow. The world routes a connection's inputs here when
/// <see cref="Owns"/> says so (ClientHost.Raw); everything else goes to the KafkaClient as before.
/// </summary>
public sealed class RawConnections(IClientNetwork network, BrokerAddress address, Func<long> nowMs)
{
    private const int ConnectionsMax = 16;
    private const int ReceiveBytesMax = 8 << 20;

    private sealed class Expectation(int correlationId, ApiKey key, short decodeVersion, Action<RawOutcome> done, long sentMs)
    {
        public readonly int CorrelationId = correlationId;
        public readonly ApiKey Key = key;
        public readonly short DecodeVersion = decodeVersion;
        public readonly Action<RawOutcome> Done = done;
        public readonly long SentMs = sentMs;
    }

    private sealed class Conn(ConnectionId id, long openedMs)
    {
        public readonly ConnectionId Id = id;
        public readonly long OpenedMs = openedMs;
        public bool Connected;
        public readonly List<byte[]> Unsent = new();
        public readonly Queue<Expectation> Expected = new();
        public byte[] Buffer = new byte[1024];
        public int Buffered;
        /// <summary>Called once when the connection ends (closed by either side, or given up).</summary>
        public Action<string>? OnEnd;
    }

    private readonly SortedDictionary<long, Conn> _conns = new();
    private int _nextCorrelation = 1;

    public int Count => _conns.Count;

    public bool Owns(ConnectionId id) => _conns.ContainsKey(id.Value);

    /// <summary>Opens a connection; null when too many are open (bounded).</summary>
    public ConnectionId? Open(Action<string>? onEnd = null)
    {
        if (_conns.Count >= ConnectionsMax) return null;
        var id = network.Connect(address);
        _conns[id.Value] = new Conn(id, nowMs()) { OnEnd = onEnd };
        return id;
    }

    public int NextCorrelationId() => _nextCorrelation++;

    /// <summary>Sends a well-formed request and decodes its answer at <paramref name="version"/> (or at
    /// <paramref name="decodeVersion"/>: ApiVersions answers an unsupported version at v0).</summary>
    public bool Request(ConnectionId id, ApiKey key, short version, IKafkaMessage body, Action<RawOutcome> done, short? decodeVersion = null)
    {
        int correlation = NextCorrelationId();
        return SendBytes(id, ClientCodec.EncodeRequest(key, version, correlation, "adm-raw", body), correlation, key, decodeVersion ?? version, done);
    }

    /// <summary>Sends <paramref name="frame"/> as it is; an answer is expected under <paramref name="correlationId"/>
    /// (decoded as <paramref name="key"/> v<paramref name="decodeVersion"/>), or the connection closes.</summary>
    public bool SendBytes(ConnectionId id, byte[] frame, int correlationId, ApiKey key, short decodeVersion, Action<RawOutcome> done)
    {
        if (!_conns.TryGetValue(id.Value, out var c)) return false;
        c.Expected.Enqueue(new Expectation(correlationId, key, decodeVersion, done, nowMs()));
        if (c.Connected) network.Send(id, frame);
        else c.Unsent.Add(frame);
        return true;
    }

    /// <summary>Closes our end; whatever it still waits for ends as <see cref="RawStatus.GaveUp"/>.</summary>
    public void Close(ConnectionId id)
    {
        if (!_conns.Remove(id.Value, out var c)) return;
        network.Close(id);
        End(c, RawStatus.GaveUp, "closed by the admin process");
    }

    /// <summary>Gives up on connections whose oldest request waited longer than <paramref name="timeoutMs"/>.</summary>
    public void Expire(long timeoutMs)
    {
        long now = nowMs();
        foreach (var c in _conns.Values.ToList())
        {
            long since = c.Expected.Count > 0 ? c.Expected.Peek().SentMs : c.OpenedMs;
            if (now - since > timeoutMs) Close(c.Id);
        }
    }

    /// <summary>The admin process died: whatever it waited for ends as given up (nothing is judged).</summary>
    public void Abandon()
    {
        var all = _conns.Values.ToList();
        _conns.Clear();
        foreach (var c in all) End(c, RawStatus.GaveUp, "the admin process died");
    }

    internal void OnConnected(ConnectionId id)
    {
        if (!_conns.TryGetValue(id.Value, out var c)) return;
        c.Connected = true;
        foreach (var frame in c.Unsent) network.Send(id, frame);
        c.Unsent.Clear();
    }

    internal void OnClosed(ConnectionId id)
    {
        if (!_conns.Remove(id.Value, out var c)) return;
        End(c, RawStatus.Closed, "connection closed");
    }

    private static void End(Conn c, RawStatus status, string why)
    {
        while (c.Expected.Count > 0) c.Expected.Dequeue().Done(new RawOutcome(status, null, why));
        c.OnEnd?.Invoke(why);
        c.OnEnd = null;
    }

    internal void OnReceive(ConnectionId id, ReadOnlySpan<byte> bytes)
    {
        if (!_conns.TryGetValue(id.Value, out var c)) return;
        if (c.Buffered + bytes.Length > ReceiveBytesMax)
        {
            Close(id);
            return;
        }
        if (c.Buffered + bytes.Length > c.Buffer.Length) Array.Resize(ref c.Buffer, Math.Max(c.Buffer.Length * 2, c.Buffered + bytes.Length));
        bytes.CopyTo(c.Buffer.AsSpan(c.Buffered));
        c.Buffered += bytes.Length;
        while (_conns.ContainsKey(id.Value) && c.Buffered >= Frame.SizePrefixBytes)
        {
            var status = Frame.TryReadFrame(c.Buffer.AsSpan(0, c.Buffered), ReceiveBytesMax, out int length);
            if (status == FrameStatus.NeedMoreData) return;
            if (status == FrameStatus.Invalid || c.Expected.Count == 0)
            {
                // A response nobody asked for, or an impossible size: the stream is broken.
                var head = c.Expected.Count > 0 ? c.Expected.Dequeue() : null;
                head?.Done(new RawOutcome(RawStatus.Undecodable, null, status == FrameStatus.Invalid ? $"response frame size {length}" : "an answer nobody asked for"));
                Close(id);
                return;
            }
            var payload = new ArraySegment<byte>(c.Buffer.AsSpan(Frame.SizePrefixBytes, length).ToArray());
            Array.Copy(c.Buffer, Frame.SizePrefixBytes + length, c.Buffer, 0, c.Buffered - Frame.SizePrefixBytes - length);
            c.Buffered -= Frame.SizePrefixBytes + length;
            var e = c.Expected.Dequeue();
            int correlation = payload.Count >= 4 ? BinaryPrimitives.ReadInt32BigEndian(payload) : int.MinValue;
            if (correlation != e.CorrelationId)
            {
                e.Done(new RawOutcome(RawStatus.WrongCorrelation, null, $"answer #{correlation} where #{e.CorrelationId} was next"));
                continue;
            }
            IKafkaMessage body;
            try
            {
                body = ClientCodec.DecodeResponse(e.Key, e.DecodeVersion, payload, out _);
            }
            catch (ProtocolException ex)
            {
                e.Done(new RawOutcome(RawStatus.Undecodable, null, ex.Message));
                continue;
            }
            e.Done(new RawOutcome(RawStatus.Answered, body, null));
        }
    }
}
