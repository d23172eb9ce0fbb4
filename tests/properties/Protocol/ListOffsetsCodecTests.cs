using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using FsCheck;
using FsCheck.Fluent;
using Xunit;
using static DetKafka.Properties.Protocol.RoundTrip;

namespace DetKafka.Properties.Protocol;

public class ListOffsetsCodecTests
{
    internal static Gen<ListOffsetsRequest> RequestGen(short v)
    {
        var partition = from index in AnyInt32
                        from leaderEpoch in Since(v, 4, AnyInt32, -1)
                        from timestamp in Gen.Frequency((1, Gen.Elements(-1L, -2L, -3L)), (2, AnyInt64))
                        from maxNum in v == 0 ? AnyInt32 : Gen.Constant(1)
                        select new ListOffsetsRequest.ListOffsetsPartition
                        {
                            PartitionIndex = index, CurrentLeaderEpoch = leaderEpoch, Timestamp = timestamp, MaxNumOffsets = maxNum,
                        };
        var topic = from name in Text()
                    from partitions in ListOf(partition)
                    select new ListOffsetsRequest.ListOffsetsTopic { Name = name, Partitions = partitions };
        return from replica in AnyInt32
               from isolation in Since(v, 2, AnyInt8, (sbyte)0)
               from topics in ListOf(topic)
               select new ListOffsetsRequest { ReplicaId = replica, IsolationLevel = isolation, Topics = topics };
    }

    internal static Gen<ListOffsetsResponse> ResponseGen(short v)
    {
        var partition = from index in AnyInt32
                        from error in AnyError
                        from oldStyle in v == 0 ? ListOf(AnyInt64, 4) : Gen.Constant(new List<long>())
                        from timestamp in Since(v, 1, AnyInt64, -1L)
                        from offset in Since(v, 1, AnyInt64, -1L)
                        from leaderEpoch in Since(v, 4, AnyInt32, -1)
                        select new ListOffsetsResponse.ListOffsetsPartitionResponse
                        {
                            PartitionIndex = index, ErrorCode = error, OldStyleOffsets = oldStyle, Timestamp = timestamp,
                            Offset = offset, LeaderEpoch = leaderEpoch,
                        };
        var topic = from name in Text()
                    from partitions in ListOf(partition)
                    select new ListOffsetsResponse.ListOffsetsTopicResponse { Name = name, Partitions = partitions };
        return from throttle in Since(v, 2, AnyInt32, 0)
               from topics in ListOf(topic)
               select new ListOffsetsResponse { ThrottleTimeMs = throttle, Topics = topics };
    }

    [Fact]
    public void Requests_round_trip_in_every_version()
    {
        foreach (short v in Versions(ApiKey.ListOffsets))
            ForAll(RequestGen(v), m =>
            {
                var d = (ListOffsetsRequest)Check(ApiKey.ListOffsets, v, m, isRequest: true);
                Assert.Equal(m.Topics.SelectMany(t => t.Partitions).Select(p => (p.PartitionIndex, p.Timestamp)),
                             d.Topics.SelectMany(t => t.Partitions).Select(p => (p.PartitionIndex, p.Timestamp)));
            });
    }

    [Fact]
    public void Responses_round_trip_in_every_version()
    {
        foreach (short v in Versions(ApiKey.ListOffsets))
            ForAll(ResponseGen(v), m =>
            {
                var d = (ListOffsetsResponse)Check(ApiKey.ListOffsets, v, m, isRequest: false);
                Assert.Equal(m.Topics.SelectMany(t => t.Partitions).Select(p => (p.ErrorCode, p.Offset)),
                             d.Topics.SelectMany(t => t.Partitions).Select(p => (p.ErrorCode, p.Offset)));
            });
    }

    [Fact]
    public void Every_prefix_of_a_large_response_is_rejected()
    {
        foreach (short v in new short[] { 0, 1, 6 })
            ForAll(ResponseGen(v).Where(m => m.Topics.Count > 0), m =>
                CheckTruncations(ApiKey.ListOffsets, v, Encode(m, v), isRequest: false, samples: int.MaxValue), maxTest: 5);
    }

    [Fact]
    public void V0_request_carries_max_num_offsets_and_v1_does_not()
    {
        var m = new ListOffsetsRequest
        {
            ReplicaId = -1,
            Topics = [new() { Name = "t", Partitions = [new() { PartitionIndex = 1, Timestamp = ListOffsetsRequest.LatestTimestamp, MaxNumOffsets = 2 }] }],
        };
        byte[] v1 =
        [
            0xFF, 0xFF, 0xFF, 0xFF,         // replica id -1
            0, 0, 0, 1, 0, 1, (byte)'t',    // topics: 1, "t"
            0, 0, 0, 1,                     //   partitions: 1
            0, 0, 0, 1,                     //     partition 1
            0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, // timestamp -1 (latest)
        ];
        Assert.Equal(v1, Encode(m, 1));
        Assert.Equal(v1.Concat(new byte[] { 0, 0, 0, 2 }), Encode(m, 0));
        // v2 adds the isolation level right after the replica id.
        Assert.Equal(v1[..4].Append((byte)0).Concat(v1[4..]), Encode(m, 2));
    }

    [Fact]
    public void V0_response_has_old_style_offsets_and_v6_is_flexible()
    {
        byte[] v0 =
        [
            0, 0, 0, 1, 0, 1, (byte)'t',    // topics: 1, "t"
            0, 0, 0, 1,                     //   partitions: 1
            0, 0, 0, 0, 0, 0,               //     partition 0, error none
            0, 0, 0, 2,                     //     old style offsets: 2
            0, 0, 0, 0, 0, 0, 0, 9,
            0, 0, 0, 0, 0, 0, 0, 0,
        ];
        var m0 = (ListOffsetsResponse)Decode(ApiKey.ListOffsets, 0, v0, isRequest: false);
        Assert.Equal([9L, 0L], m0.Topics.Single().Partitions.Single().OldStyleOffsets);

        var m6 = new ListOffsetsResponse
        {
            ThrottleTimeMs = 0,
            Topics = [new() { Name = "t", Partitions = [new() { PartitionIndex = 0, Timestamp = 5, Offset = 9, LeaderEpoch = 1 }] }],
        };
        byte[] v6 =
        [
            0, 0, 0, 0,                     // throttle 0
            0x02, 0x02, (byte)'t',          // topics: 1, "t"
            0x02,                           //   partitions: 1
            0, 0, 0, 0, 0, 0,               //     partition 0, error none
            0, 0, 0, 0, 0, 0, 0, 5,         //     timestamp 5
            0, 0, 0, 0, 0, 0, 0, 9,         //     offset 9
            0, 0, 0, 1,                     //     leader epoch 1
            0x00, 0x00, 0x00,               // tagged fields: partition, topic, top level
        ];
        Assert.Equal(v6, Encode(m6, 6));
        Assert.Equal(v6, Encode(m6, 7));
    }
}
