using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Xunit;

namespace DetKafka.Chaos;

/// <summary>
/// Hostile bytes on a raw socket. For each, the broker must answer or close that connection within a bounded
/// time, stay alive, and keep serving a real client (a kcat produce + consume round trip on a new connection).
/// The frames are built here byte by byte, independent of the broker's own codec.
/// </summary>
public sealed partial class BadInputTests(BrokerFixture fixture) : IClassFixture<BrokerFixture>
{
    private static readonly TimeSpan ReplyTimeout = TimeSpan.FromSeconds(10);
    private const short ApiVersionsKey = 18;
    private const short UnsupportedVersion = 35;
    private const short ProduceKey = 0;
    private const short CorruptMessage = 2;

    private readonly BrokerProcess _broker = fixture.Broker;

    [Fact]
    public void Truncated_frame_then_close()
    {
        using (TcpClient c = Connect())
        {
            byte[] frame = RequestFrame(ApiVersionsKey, 0, 7, "chaos", []);
            c.GetStream().Write(frame, 0, frame.Length / 2);
        }
        AssertStillServing("truncated-frame");
    }

    [Fact]
    public void Negative_frame_size_closes_the_connection()
    {
        Outcome o = SendAndObserve(Int32BE(-1));
        Assert.True(o.Closed, $"a frame of size -1 must close the connection; got {o}");
        AssertStillServing("negative-size");
    }

    [Fact]
    public void Frame_over_socket_request_max_bytes_closes_without_waiting_for_the_body()
    {
        // 200 MiB announced, a few bytes sent: the broker must not wait for (or allocate) the rest.
        byte[] head = [.. Int32BE(200 * 1024 * 1024), .. new byte[16]];
        Outcome o = SendAndObserve(head);
        Assert.True(o.Closed, $"a 200 MiB frame must close the connection; got {o}");
        AssertStillServing("oversized-frame");
    }

    [Fact]
    public void Random_garbage_is_answered_or_closed()
    {
        var rng = new Random(20240611);
        // Garbage framed with a consistent size (so the broker has a whole "request" to choke on) and garbage with
        // a random size prefix, after which we half-close so a broker waiting for more bytes sees end of stream.
        for (int round = 0; round < 8; round++)
        {
            byte[] body = new byte[rng.Next(1, 2048)];
            rng.NextBytes(body);
            byte[] bytes = round % 2 == 0 ? [.. Int32BE(body.Length), .. body] : body;
            Outcome o = SendAndObserve(bytes, halfClose: round % 2 == 1);
            Assert.True(o.Closed || o.Answered, $"garbage round {round}: neither answered nor closed: {o}");
        }
        AssertStillServing("garbage");
    }

    [Fact]
    public void Unknown_api_key_is_answered_or_closed()
    {
        Outcome o = SendAndObserve(RequestFrame(9999, 0, 11, "chaos", []));
        Assert.True(o.Closed || o.Answered, $"unknown API key: neither answered nor closed: {o}");
        AssertStillServing("unknown-api-key");
    }

    [Fact]
    public void ApiVersions_v99_gets_unsupported_version_in_the_v0_layout_and_the_connection_stays_usable()
    {
        using TcpClient c = Connect();
        NetworkStream s = c.GetStream();
        // Header v2 as a flexible ApiVersions request would carry it (client id, then an empty tagged-field
        // buffer), and an empty body: the broker can only trust the fixed header prefix.
        s.Write(RequestFrame(ApiVersionsKey, 99, 4242, "chaos", [0x00]));
        byte[] payload = ReadFrame(s);

        // v0 response: correlation id int32 | error_code int16 | api_keys [int16 key, int16 min, int16 max]
        Assert.True(payload.Length >= 10, $"response too short: {payload.Length} bytes");
        Assert.Equal(4242, BinaryPrimitives.ReadInt32BigEndian(payload));
        Assert.Equal(UnsupportedVersion, BinaryPrimitives.ReadInt16BigEndian(payload.AsSpan(4)));
        int n = BinaryPrimitives.ReadInt32BigEndian(payload.AsSpan(6));
        Assert.InRange(n, 0, 1000);
        Assert.Equal(4 + 2 + 4 + 6 * n, payload.Length);
        for (int i = 0; i < n; i++)
        {
            int at = 10 + 6 * i;
            short min = BinaryPrimitives.ReadInt16BigEndian(payload.AsSpan(at + 2));
            short max = BinaryPrimitives.ReadInt16BigEndian(payload.AsSpan(at + 4));
            Assert.True(min >= 0 && min <= max, $"api key {BinaryPrimitives.ReadInt16BigEndian(payload.AsSpan(at))}: range {min}..{max}");
        }

        // librdkafka retries on the same connection with v0: it must still be open and answer with no error.
        s.Write(RequestFrame(ApiVersionsKey, 0, 4243, "chaos", []));
        byte[] v0 = ReadFrame(s);
        Assert.Equal(4243, BinaryPrimitives.ReadInt32BigEndian(v0));
        Assert.Equal(0, BinaryPrimitives.ReadInt16BigEndian(v0.AsSpan(4)));
        int keys = BinaryPrimitives.ReadInt32BigEndian(v0.AsSpan(6));
        Assert.True(keys > 0, "ApiVersions v0 advertises no API");
        bool advertisesApiVersions = Enumerable.Range(0, keys)
            .Any(i => BinaryPrimitives.ReadInt16BigEndian(v0.AsSpan(10 + 6 * i)) == ApiVersionsKey);
        Assert.True(advertisesApiVersions, "ApiVersions v0 response does not list ApiVersions itself");

        AssertStillServing("apiversions-v99");
    }

    [Theory]
    [InlineData(Core.Records.CompressionCodec.Gzip)]
    [InlineData(Core.Records.CompressionCodec.Snappy)]
    [InlineData(Core.Records.CompressionCodec.Lz4)]
    [InlineData(Core.Records.CompressionCodec.Zstd)]
    public void A_decompression_bomb_gets_corrupt_message_is_not_written_and_the_broker_keeps_serving(Core.Records.CompressionCodec codec)
    {
        string topic = "bomb-" + codec.ToString().ToLowerInvariant();
        Clients.KcatRun(["-P", "-b", _broker.Bootstrap, "-t", topic, "-p", "0"], stdin: "before\n");
        // One record of 80 MiB of zeros: a small compressed batch (well under max.message.bytes) that inflates past
        // the 64 MiB bound derived from the default max.message.bytes. (The batch comes from the broker's builder; the
        // request around it is built here byte by byte.) Snappy cannot compress more than about 21 fold, so its bomb
        // is a raw block whose preamble claims 200 MiB.
        byte[] batch = codec == Core.Records.CompressionCodec.Snappy
            ? LyingSnappyBatch(200 * 1024 * 1024)
            : Core.Records.RecordBatchBuilder.Build([new Core.Records.SimpleRecord(null, new byte[80 * 1024 * 1024], 1)], codec);
        Assert.True(batch.Length < 1_000_000, $"{batch.Length} bytes");

        using TcpClient c = Connect();
        NetworkStream s = c.GetStream();
        // Produce v3: transactional_id (null) | acks int16 | timeout_ms int32 | [topic: name | [partition int32 | records bytes]].
        byte[] name = Encoding.UTF8.GetBytes(topic);
        byte[] body = [.. Int16BE(-1), .. Int16BE(-1), .. Int32BE(10_000), .. Int32BE(1), .. Int16BE((short)name.Length), .. name,
            .. Int32BE(1), .. Int32BE(0), .. Int32BE(batch.Length), .. batch];
        s.Write(RequestFrame(ProduceKey, 3, 77, "chaos", body));
        // Response v3: correlation id | [topic: name | [partition int32 | error int16 | base_offset int64 | log_append_time int64]] | throttle.
        byte[] reply = ReadFrame(s);
        Assert.Equal(77, BinaryPrimitives.ReadInt32BigEndian(reply));
        int at = 4 + 4 + 2 + name.Length + 4;
        Assert.Equal(0, BinaryPrimitives.ReadInt32BigEndian(reply.AsSpan(at)));
        Assert.Equal(CorruptMessage, BinaryPrimitives.ReadInt16BigEndian(reply.AsSpan(at + 4)));
        Assert.Equal(-1, BinaryPrimitives.ReadInt64BigEndian(reply.AsSpan(at + 6)));

        // Nothing was written: the partition still holds only the record from before.
        CommandResult r = Clients.KcatRun(["-C", "-b", _broker.Bootstrap, "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q"]);
        Assert.Equal(["before"], r.StdoutLines);
        Assert.True(_broker.WaitForLog("CorruptMessage", TimeSpan.FromSeconds(10)), "no log line for the refused batch:\n" + _broker.LogTail());
        AssertStillServing("bomb-" + codec.ToString().ToLowerInvariant());
    }

    // ---- helpers ----

    /// <summary>A one-record batch labelled snappy whose body is a raw snappy block claiming <paramref name="claimed"/>
    /// bytes (varint preamble) followed by one literal byte.</summary>
    private static byte[] LyingSnappyBatch(int claimed)
    {
        byte[] plain = Core.Records.RecordBatchBuilder.Build([new Core.Records.SimpleRecord(null, [1], 1)]);
        var body = new List<byte>();
        for (uint v = (uint)claimed; ; v >>= 7)
        {
            if (v < 0x80) { body.Add((byte)v); break; }
            body.Add((byte)(v | 0x80));
        }
        body.AddRange([0x00, (byte)'a']);
        byte[] batch = [.. plain.AsSpan(0, Core.Records.RecordBatch.HeaderSize), .. body];
        Core.Records.RecordBatch.SetCodec(batch, Core.Records.CompressionCodec.Snappy);
        return batch;
    }

    private sealed record Outcome(bool Closed, bool Answered, int BytesReceived, TimeSpan Elapsed)
    {
        public override string ToString() =>
            $"closed={Closed} answered={Answered} received={BytesReceived} bytes after {Elapsed.TotalMilliseconds:F0} ms";
    }

    private TcpClient Connect()
    {
        var c = new TcpClient(AddressFamily.InterNetwork) { NoDelay = true };
        c.Connect(IPAddress.Loopback, _broker.Port);
        c.ReceiveTimeout = (int)ReplyTimeout.TotalMilliseconds;
        c.SendTimeout = (int)ReplyTimeout.TotalMilliseconds;
        return c;
    }

    /// <summary>Sends the bytes and reads until the broker closes the connection or <see cref="ReplyTimeout"/>
    /// passes. "Answered" means at least one whole response frame arrived.</summary>
    private Outcome SendAndObserve(byte[] bytes, bool halfClose = false)
    {
        using TcpClient c = Connect();
        Socket s = c.Client;
        var sw = Stopwatch.StartNew();
        try
        {
            s.Send(bytes);
            if (halfClose) s.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
            // The broker already slammed the door (reset): that counts as closed.
            return new Outcome(true, false, 0, sw.Elapsed);
        }

        var received = new MemoryStream();
        byte[] buf = new byte[64 * 1024];
        while (sw.Elapsed < ReplyTimeout)
        {
            if (!s.Poll(100_000, SelectMode.SelectRead)) continue; // 100 ms
            int n;
            try
            {
                n = s.Receive(buf);
            }
            catch (SocketException)
            {
                return new Outcome(true, HasWholeFrame(received), (int)received.Length, sw.Elapsed);
            }
            if (n == 0) return new Outcome(true, HasWholeFrame(received), (int)received.Length, sw.Elapsed);
            received.Write(buf, 0, n);
            if (received.Length > 16 * 1024 * 1024) break;
        }
        return new Outcome(false, HasWholeFrame(received), (int)received.Length, sw.Elapsed);
    }

    private static bool HasWholeFrame(MemoryStream received)
    {
        if (received.Length < 4) return false;
        int size = BinaryPrimitives.ReadInt32BigEndian(received.GetBuffer().AsSpan(0, 4));
        return size >= 0 && received.Length >= 4L + size;
    }

    private static byte[] ReadFrame(NetworkStream s)
    {
        byte[] size = new byte[4];
        s.ReadExactly(size);
        int n = BinaryPrimitives.ReadInt32BigEndian(size);
        Assert.InRange(n, 4, 1024 * 1024);
        byte[] payload = new byte[n];
        s.ReadExactly(payload);
        return payload;
    }

    /// <summary>size | api_key int16 | api_version int16 | correlation_id int32 | client_id (int16 length + bytes)
    /// | body (a flexible header's tagged-field byte, when wanted, goes at the head of the body).</summary>
    private static byte[] RequestFrame(short apiKey, short apiVersion, int correlationId, string clientId, byte[] body)
    {
        byte[] id = Encoding.UTF8.GetBytes(clientId);
        var payload = new List<byte>();
        payload.AddRange(Int16BE(apiKey));
        payload.AddRange(Int16BE(apiVersion));
        payload.AddRange(Int32BE(correlationId));
        payload.AddRange(Int16BE((short)id.Length));
        payload.AddRange(id);
        payload.AddRange(body);
        return [.. Int32BE(payload.Count), .. payload];
    }

    private static byte[] Int32BE(int v)
    {
        byte[] b = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(b, v);
        return b;
    }

    private static byte[] Int16BE(short v)
    {
        byte[] b = new byte[2];
        BinaryPrimitives.WriteInt16BigEndian(b, v);
        return b;
    }

    /// <summary>The broker process is alive and a real client still gets a produce + consume round trip through.</summary>
    private void AssertStillServing(string label)
    {
        _broker.AssertAlive($"after {label}");
        string topic = "bad-input-" + label;
        string value = $"{label}-{Guid.NewGuid():N}";
        Clients.KcatRun(["-P", "-b", _broker.Bootstrap, "-t", topic, "-p", "0"], stdin: value + "\n");
        CommandResult r = Clients.KcatRun(["-C", "-b", _broker.Bootstrap, "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q"]);
        Assert.Contains(value, r.StdoutLines);
        _broker.AssertAlive($"after the round trip following {label}");
    }
}
