using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using FsCheck;
using FsCheck.Fluent;
using Xunit;
using static DetKafka.Properties.Protocol.RoundTrip;

namespace DetKafka.Properties.Protocol;

public class FetchCodecTests
{
    internal static Gen<FetchRequest> RequestGen(short v)
    {
        var partition = from index in AnyInt32
                        from leaderEpoch in Since(v, 9, AnyInt32, -1)
                        from fetchOffset in AnyInt64
                        from lastFetchedEpoch in Since(v, 12, AnyInt32, -1)
                        from logStart in Since(v, 5, AnyInt64, -1L)
                        from maxBytes in AnyInt32
                        select new FetchRequest.FetchPartition
                        {
                            Partition = index, CurrentLeaderEpoch = leaderEpoch, FetchOffset = fetchOffset,
                            LastFetchedEpoch = lastFetchedEpoch, LogStartOffset = logStart, PartitionMaxBytes = maxBytes,
                        };
        var topic = from name in Text()
                    from partitions in ListOf(partition)
                    select new FetchRequest.FetchTopic { Topic = name, Partitions = partitions };
        var forgotten = from name in Text()
                        from partitions in ListOf(AnyInt32, 4)
                        select new FetchRequest.ForgottenTopic { Topic = name, Partitions = partitions };
        return from replica in AnyInt32
               from maxWait in AnyInt32
               from minBytes in AnyInt32
               from maxBytes in Since(v, 3, AnyInt32, int.MaxValue)
               from isolation in Since(v, 4, AnyInt8, (sbyte)0)
               from sessionId in Since(v, 7, AnyInt32, 0)
               from sessionEpoch in Since(v, 7, AnyInt32, -1)
               from topics in ListOf(topic)
               from forgottenTopics in Since(v, 7, ListOf(forgotten), new List<FetchRequest.ForgottenTopic>())
               from rack in Since(v, 11, Text(), "")
               select new FetchRequest
               {
                   ReplicaId = replica, MaxWaitMs = maxWait, MinBytes = minBytes, MaxBytes = maxBytes,
                   IsolationLevel = isolation, SessionId = sessionId, SessionEpoch = sessionEpoch, Topics = topics,
                   ForgottenTopicsData = forgottenTopics, RackId = rack,
               };
    }

    internal static Gen<FetchResponse> ResponseGen(short v)
    {
        var aborted = from producerId in AnyInt64
                      from firstOffset in AnyInt64
                      select new FetchResponse.AbortedTransaction { ProducerId = producerId, FirstOffset = firstOffset };
        var partition = from index in AnyInt32
                        from error in AnyError
                        from hw in AnyInt64
                        from lso in Since(v, 4, AnyInt64, -1L)
                        from logStart in Since(v, 5, AnyInt64, -1L)
                        from abortedTxns in Since(v, 4, NullableListOf(aborted), null)
                        from preferred in Since(v, 11, AnyInt32, -1)
                        from records in NullableBytes()
                        select new FetchResponse.PartitionData
                        {
                            PartitionIndex = index, ErrorCode = error, HighWatermark = hw, LastStableOffset = lso,
                            LogStartOffset = logStart, AbortedTransactions = abortedTxns, PreferredReadReplica = preferred,
                            Records = records,
                        };
        var topic = from name in Text()
                    from partitions in ListOf(partition)
                    select new FetchResponse.FetchableTopicResponse { Topic = name, Partitions = partitions };
        return from throttle in Since(v, 1, AnyInt32, 0)
               from error in Since(v, 7, AnyError, ErrorCode.None)
               from session in Since(v, 7, AnyInt32, 0)
               from topics in ListOf(topic)
               select new FetchResponse { ThrottleTimeMs = throttle, ErrorCode = error, SessionId = session, Responses = topics };
    }

    [Fact]
    public void Requests_round_trip_in_every_version()
    {
        foreach (short v in Versions(ApiKey.Fetch))
            ForAll(RequestGen(v), m =>
            {
                var d = (FetchRequest)Check(ApiKey.Fetch, v, m, isRequest: true);
                Assert.Equal(m.Topics.SelectMany(t => t.Partitions).Select(p => (p.Partition, p.FetchOffset, p.PartitionMaxBytes)),
                             d.Topics.SelectMany(t => t.Partitions).Select(p => (p.Partition, p.FetchOffset, p.PartitionMaxBytes)));
            });
    }

    [Fact]
    public void Responses_round_trip_in_every_version()
    {
        foreach (short v in Versions(ApiKey.Fetch))
            ForAll(ResponseGen(v), m =>
            {
                var d = (FetchResponse)Check(ApiKey.Fetch, v, m, isRequest: false);
                var expected = m.Responses.SelectMany(t => t.Partitions).ToList();
                var actual = d.Responses.SelectMany(t => t.Partitions).ToList();
                Assert.Equal(expected.Select(p => (p.HighWatermark, p.AbortedTransactions is null, p.Records is null)),
                             actual.Select(p => (p.HighWatermark, p.AbortedTransactions is null, p.Records is null)));
            });
    }

    [Fact]
    public void Every_prefix_of_a_large_response_is_rejected()
    {
        foreach (short v in new short[] { 4, 11, 12 })
            ForAll(ResponseGen(v).Where(m => m.Responses.Count > 0), m =>
                CheckTruncations(ApiKey.Fetch, v, Encode(m, v), isRequest: false, samples: int.MaxValue), maxTest: 5);
    }

    [Fact]
    public void V4_request_has_the_known_layout()
    {
        var m = new FetchRequest
        {
            ReplicaId = -1,
            MaxWaitMs = 500,
            MinBytes = 1,
            MaxBytes = 0x100,
            IsolationLevel = 1,
            Topics = [new() { Topic = "t", Partitions = [new() { Partition = 2, FetchOffset = 10, PartitionMaxBytes = 0x80 }] }],
        };
        byte[] expected =
        [
            0xFF, 0xFF, 0xFF, 0xFF,         // replica id -1
            0, 0, 0x01, 0xF4,               // max wait 500
            0, 0, 0, 1,                     // min bytes 1
            0, 0, 0x01, 0x00,               // max bytes 256
            1,                              // isolation level READ_COMMITTED
            0, 0, 0, 1,                     // topics: 1
            0, 1, (byte)'t',                //   topic "t"
            0, 0, 0, 1,                     //   partitions: 1
            0, 0, 0, 2,                     //     partition 2
            0, 0, 0, 0, 0, 0, 0, 10,        //     fetch offset 10
            0, 0, 0, 0x80,                  //     partition max bytes 128
        ];
        Assert.Equal(expected, Encode(m, 4));
    }

    [Fact]
    public void V12_request_has_the_flexible_layout_and_keeps_the_tagged_cluster_id()
    {
        byte[] bytes =
        [
            0xFF, 0xFF, 0xFF, 0xFF,         // replica id -1
            0, 0, 0x01, 0xF4,               // max wait 500
            0, 0, 0, 1,                     // min bytes 1
            0x7F, 0xFF, 0xFF, 0xFF,         // max bytes
            0,                              // isolation level
            0, 0, 0, 9,                     // session id 9
            0, 0, 0, 3,                     // session epoch 3
            0x02,                           // topics: 1
            0x02, (byte)'t',                //   topic "t"
            0x02,                           //   partitions: 1
            0, 0, 0, 0,                     //     partition 0
            0, 0, 0, 5,                     //     current leader epoch 5
            0, 0, 0, 0, 0, 0, 0, 42,        //     fetch offset 42
            0, 0, 0, 4,                     //     last fetched epoch 4
            0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, // log start offset -1
            0, 0x10, 0, 0,                  //     partition max bytes 1 MiB
            0x00,                           //     tagged fields
            0x00,                           //   tagged fields
            0x02,                           // forgotten topics: 1
            0x02, (byte)'f', 0x03, 0, 0, 0, 1, 0, 0, 0, 2, 0x00, // "f" [1, 2]
            0x03, (byte)'r', (byte)'k',     // rack id "rk"
            0x01, 0x00, 0x03, 0x03, (byte)'c', (byte)'1', // tagged fields: tag 0, 3 bytes (cluster id "c1")
        ];
        var m = (FetchRequest)Decode(ApiKey.Fetch, 12, bytes, isRequest: true);
        Assert.Equal(9, m.SessionId);
        Assert.Equal(3, m.SessionEpoch);
        var p = m.Topics.Single().Partitions.Single();
        Assert.Equal(5, p.CurrentLeaderEpoch);
        Assert.Equal(42, p.FetchOffset);
        Assert.Equal(4, p.LastFetchedEpoch);
        Assert.Equal(-1, p.LogStartOffset);
        Assert.Equal(1 << 20, p.PartitionMaxBytes);
        Assert.Equal("f", m.ForgottenTopicsData.Single().Topic);
        Assert.Equal([1, 2], m.ForgottenTopicsData[0].Partitions);
        Assert.Equal("rk", m.RackId);
        // The cluster id (tag 0) is declared in the spec: decoded, and re-encoded byte for byte.
        Assert.Equal("c1", m.ClusterId);
        Assert.Equal(bytes, Encode(m, 12));
    }

    [Fact]
    public void V12_response_skips_partition_tagged_fields()
    {
        byte[] bytes =
        [
            0, 0, 0, 0,                     // throttle 0
            0, 0,                           // error none
            0, 0, 0, 7,                     // session id 7
            0x02,                           // responses: 1
            0x02, (byte)'t',                //   topic "t"
            0x02,                           //   partitions: 1
            0, 0, 0, 1,                     //     partition 1
            0, 0,                           //     error none
            0, 0, 0, 0, 0, 0, 0, 20,        //     high watermark 20
            0, 0, 0, 0, 0, 0, 0, 20,        //     last stable offset 20
            0, 0, 0, 0, 0, 0, 0, 0,         //     log start offset 0
            0x02, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 11, 0x00, // aborted: [(8, 11)]
            0xFF, 0xFF, 0xFF, 0xFF,         //     preferred read replica -1
            0x03, 0xDE, 0xAD,               //     records (2 bytes)
            0x02,                           //     tagged fields: 2
            0x00, 0x0D, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 15, 0x00, // tag 0: diverging epoch (3, 15)
            0x01, 0x09, 0, 0, 0, 2, 0, 0, 0, 6, 0x00,              // tag 1: current leader (2, 6)
            0x00,                           //   tagged fields
            0x00,                           // tagged fields
        ];
        var m = (FetchResponse)Decode(ApiKey.Fetch, 12, bytes, isRequest: false);
        Assert.Equal(7, m.SessionId);
        var p = m.Responses.Single().Partitions.Single();
        Assert.Equal(1, p.PartitionIndex);
        Assert.Equal(20, p.HighWatermark);
        Assert.Equal(20, p.LastStableOffset);
        Assert.Equal(0, p.LogStartOffset);
        var a = Assert.Single(p.AbortedTransactions!);
        Assert.Equal((8L, 11L), (a.ProducerId, a.FirstOffset));
        Assert.Equal(-1, p.PreferredReadReplica);
        Assert.Equal(new byte[] { 0xDE, 0xAD }, p.Records!.Value.ToArray());
    }

    [Fact]
    public void V4_response_with_null_aborted_transactions_and_null_records()
    {
        var m = new FetchResponse
        {
            ThrottleTimeMs = 1,
            Responses = [new() { Topic = "t", Partitions = [new() { PartitionIndex = 0, HighWatermark = 3, LastStableOffset = 3 }] }],
        };
        byte[] expected =
        [
            0, 0, 0, 1,                     // throttle 1
            0, 0, 0, 1, 0, 1, (byte)'t',    // responses: 1, "t"
            0, 0, 0, 1,                     //   partitions: 1
            0, 0, 0, 0, 0, 0,               //     partition 0, error none
            0, 0, 0, 0, 0, 0, 0, 3,         //     high watermark 3
            0, 0, 0, 0, 0, 0, 0, 3,         //     last stable offset 3
            0xFF, 0xFF, 0xFF, 0xFF,         //     aborted transactions null
            0xFF, 0xFF, 0xFF, 0xFF,         //     records null
        ];
        Assert.Equal(expected, Encode(m, 4));
    }
}
