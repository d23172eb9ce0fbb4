using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using FsCheck;
using FsCheck.Fluent;
using Xunit;
using static DetKafka.Properties.Protocol.AdminRoundTripHarness;

namespace DetKafka.Properties.Protocol;

/// <summary>OffsetForLeaderEpoch (23): round trips at every version, and hand-built layouts of v2 (what librdkafka
/// sends) and v4 (flexible) pin the wire format.</summary>
public sealed class OffsetForLeaderEpochCodecTests
{
    private static Gen<OffsetForLeaderEpochRequest> RequestGen(short version) =>
        from replica in I32
        from topics in ListOf(
            from name in Str
            from partitions in ListOf(
                from p in I32
                from current in I32
                from epoch in I32
                select new OffsetForLeaderEpochRequest.OffsetForLeaderPartition { Partition = p, CurrentLeaderEpoch = current, LeaderEpoch = epoch }, 4)
            select new OffsetForLeaderEpochRequest.OffsetForLeaderTopic { Topic = name, Partitions = partitions })
        select new OffsetForLeaderEpochRequest { ReplicaId = replica, Topics = topics };

    private static Gen<OffsetForLeaderEpochResponse> ResponseGen(short version) =>
        from throttle in I32
        from topics in ListOf(
            from name in Str
            from partitions in ListOf(
                from error in Error
                from p in I32
                from epoch in I32
                from end in I64
                select new OffsetForLeaderEpochResponse.EpochEndOffset { ErrorCode = error, Partition = p, LeaderEpoch = epoch, EndOffset = end }, 4)
            select new OffsetForLeaderEpochResponse.OffsetForLeaderTopicResult { Topic = name, Partitions = partitions })
        select new OffsetForLeaderEpochResponse { ThrottleTimeMs = throttle, Topics = topics };

    [Fact]
    public void Round_trips_at_every_version()
    {
        Assert.Equal(((short)0, (short)4), MessageCodec.CodecRange(ApiKey.OffsetForLeaderEpoch));
        CheckAllVersions(ApiKey.OffsetForLeaderEpoch, request: true, RequestGen, (original, decoded, v) =>
        {
            Assert.Equal(v >= 3 ? original.ReplicaId : -2, decoded.ReplicaId);
            Assert.Equal(original.Topics.SelectMany(t => t.Partitions.Select(p => (t.Topic, p.Partition, v >= 2 ? p.CurrentLeaderEpoch : -1, p.LeaderEpoch))),
                decoded.Topics.SelectMany(t => t.Partitions.Select(p => (t.Topic, p.Partition, p.CurrentLeaderEpoch, p.LeaderEpoch))));
        });
        CheckAllVersions(ApiKey.OffsetForLeaderEpoch, request: false, ResponseGen, (original, decoded, v) =>
        {
            Assert.Equal(v >= 2 ? original.ThrottleTimeMs : 0, decoded.ThrottleTimeMs);
            Assert.Equal(original.Topics.SelectMany(t => t.Partitions.Select(p => (t.Topic, p.ErrorCode, p.Partition, v >= 1 ? p.LeaderEpoch : -1, p.EndOffset))),
                decoded.Topics.SelectMany(t => t.Partitions.Select(p => (t.Topic, p.ErrorCode, p.Partition, p.LeaderEpoch, p.EndOffset))));
        });
    }

    [Fact]
    public void Layouts_match_the_protocol()
    {
        var request = new OffsetForLeaderEpochRequest
        {
            ReplicaId = -1,
            Topics = { new() { Topic = "ab", Partitions = { new() { Partition = 3, CurrentLeaderEpoch = 7, LeaderEpoch = 5 } } } },
        };
        // v2: topics[1] { topic "ab", partitions[1] { partition, current_leader_epoch, leader_epoch } }.
        byte[] v2 = [0, 0, 0, 1, 0, 2, (byte)'a', (byte)'b', 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0, 7, 0, 0, 0, 5];
        Assert.Equal(v2, Encode(request, 2));
        // v4: replica_id first, compact arrays and strings, a tagged-field section after each struct.
        byte[] v4 = [0xFF, 0xFF, 0xFF, 0xFF, 2, 3, (byte)'a', (byte)'b', 2, 0, 0, 0, 3, 0, 0, 0, 7, 0, 0, 0, 5, 0, 0, 0];
        Assert.Equal(v4, Encode(request, 4));

        var response = new OffsetForLeaderEpochResponse
        {
            ThrottleTimeMs = 0,
            Topics = { new() { Topic = "ab", Partitions = { new() { ErrorCode = ErrorCode.FencedLeaderEpoch, Partition = 3, LeaderEpoch = 5, EndOffset = 42 } } } },
        };
        // v2: throttle, topics[1] { topic, partitions[1] { error_code, partition, leader_epoch, end_offset } }.
        byte[] r2 = [0, 0, 0, 0, 0, 0, 0, 1, 0, 2, (byte)'a', (byte)'b', 0, 0, 0, 1, 0, 74, 0, 0, 0, 3, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 42];
        Assert.Equal(r2, Encode(response, 2));
        var decoded = (OffsetForLeaderEpochResponse)Decode(ApiKey.OffsetForLeaderEpoch, false, r2, 2, out _);
        Assert.Equal((ErrorCode.FencedLeaderEpoch, 5, 42L), (decoded.Topics[0].Partitions[0].ErrorCode, decoded.Topics[0].Partitions[0].LeaderEpoch, decoded.Topics[0].Partitions[0].EndOffset));
        // v0 has no leader epoch in the answer.
        byte[] r0 = [0, 0, 0, 1, 0, 2, (byte)'a', (byte)'b', 0, 0, 0, 1, 0, 74, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 42];
        Assert.Equal(r0, Encode(response, 0));
    }
}
