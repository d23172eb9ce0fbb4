using System.Buffers.Binary;
using System.Text;
using Xunit;

namespace DetKafka.Chaos;

// Bad group requests, built byte by byte in the classic (non-flexible) layouts: each gets the protocol's error
// code on a connection that stays open, and the broker keeps serving.
public sealed partial class BadInputTests
{
    private const short OffsetCommitKey = 8, JoinGroupKey = 11, SyncGroupKey = 14;

    private static byte[] Str(string s)
    {
        byte[] b = Encoding.UTF8.GetBytes(s);
        return [.. Int16BE((short)b.Length), .. b];
    }

    private static byte[] Bytes(byte[] b) => [.. Int32BE(b.Length), .. b];

    private static byte[] JoinV1(string group, string memberId, string protocolType) =>
    [
        .. Str(group), .. Int32BE(10_000), .. Int32BE(10_000), .. Str(memberId), .. Str(protocolType),
        .. Int32BE(1), .. Str("range"), .. Bytes([0, 0, 0, 0, 0, 0, 255, 255, 255, 255]),
    ];

    /// <summary>One request on an open connection; the response payload after the correlation id.</summary>
    private static byte[] RoundTrip(System.Net.Sockets.TcpClient c, short key, short version, int correlation, byte[] body)
    {
        var stream = c.GetStream();
        stream.Write(RequestFrame(key, version, correlation, "chaos-groups", body));
        byte[] payload = ReadFrame(stream);
        Assert.Equal(correlation, BinaryPrimitives.ReadInt32BigEndian(payload));
        return payload[4..];
    }

    private static short Int16At(byte[] b, int at) => BinaryPrimitives.ReadInt16BigEndian(b.AsSpan(at));

    [Fact]
    public void Bad_group_requests_get_their_error_codes_and_the_broker_keeps_serving()
    {
        using var c = Connect();
        c.ReceiveTimeout = 30_000;

        // JoinGroup v1 with an empty protocol type: INCONSISTENT_GROUP_PROTOCOL (23), first field of the v1 body.
        byte[] join = RoundTrip(c, JoinGroupKey, 1, 1, JoinV1("bad-group", "", ""));
        Assert.Equal(23, Int16At(join, 0));

        // OffsetCommit v2 for a topic that does not exist: UNKNOWN_TOPIC_OR_PARTITION (3) for that partition.
        byte[] commit = RoundTrip(c, OffsetCommitKey, 2, 2,
        [
            .. Str("bad-group"), .. Int32BE(-1), .. Str(""), .. new byte[] { 255, 255, 255, 255, 255, 255, 255, 255 },
            .. Int32BE(1), .. Str("no-such-topic"), .. Int32BE(1), .. Int32BE(0), .. new byte[8], .. Str(""),
        ]);
        // topics[1]: name, partitions[1]: index int32, error int16
        int at = 4 + 2 + "no-such-topic".Length + 4 + 4;
        Assert.Equal(3, Int16At(commit, at));

        // A real member (JoinGroup v1 waits for the group's first rebalance), then SyncGroup v1 from a stale
        // generation: ILLEGAL_GENERATION (22) after throttle_time_ms.
        byte[] joined = RoundTrip(c, JoinGroupKey, 1, 3, JoinV1("bad-group-2", "", "consumer"));
        Assert.Equal(0, Int16At(joined, 0));
        int generation = BinaryPrimitives.ReadInt32BigEndian(joined.AsSpan(2));
        int protocolLength = Int16At(joined, 6);
        int leaderAt = 8 + protocolLength;
        int leaderLength = Int16At(joined, leaderAt);
        string memberId = Encoding.UTF8.GetString(joined, leaderAt + 2 + leaderLength + 2, Int16At(joined, leaderAt + 2 + leaderLength));
        byte[] stale = RoundTrip(c, SyncGroupKey, 1, 4, [.. Str("bad-group-2"), .. Int32BE(generation - 1), .. Str(memberId), .. Int32BE(0)]);
        Assert.Equal(22, Int16At(stale, 4));

        // The leader's assignment, larger than max.message.bytes (1 MiB): UNKNOWN_SERVER_ERROR (-1), and the
        // group goes back to rebalancing rather than storing it.
        byte[] huge = new byte[1_500_000];
        byte[] oversized = RoundTrip(c, SyncGroupKey, 1, 5,
            [.. Str("bad-group-2"), .. Int32BE(generation), .. Str(memberId), .. Int32BE(1), .. Str(memberId), .. Bytes(huge)]);
        Assert.Equal(-1, Int16At(oversized, 4));

        AssertStillServing("bad-group-requests");
    }
}
