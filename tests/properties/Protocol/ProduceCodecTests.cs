using System.Runtime.InteropServices;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using FsCheck;
using FsCheck.Fluent;
using Xunit;
using static DetKafka.Properties.Protocol.RoundTrip;

namespace DetKafka.Properties.Protocol;

public class ProduceCodecTests
{
    internal static Gen<ProduceRequest> RequestGen(short v)
    {
        var partition = from index in AnyInt32
                        from records in NullableBytes()
                        select new ProduceRequest.PartitionProduceData { Index = index, Records = records };
        var topic = from name in Text()
                    from partitions in ListOf(partition)
                    select new ProduceRequest.TopicProduceData { Name = name, PartitionData = partitions };
        return from txn in Since(v, 3, NullableText(), null)
               from acks in Gen.Elements<short>(-1, 0, 1, 2)
               from timeout in AnyInt32
               from topics in ListOf(topic)
               select new ProduceRequest { TransactionalId = txn, Acks = acks, TimeoutMs = timeout, TopicData = topics };
    }

    internal static Gen<ProduceResponse> ResponseGen(short v)
    {
        var recordError = from index in AnyInt32
                          from message in NullableText()
                          select new ProduceResponse.BatchIndexAndErrorMessage { BatchIndex = index, BatchIndexErrorMessage = message };
        var partition = from index in AnyInt32
                        from error in AnyError
                        from baseOffset in AnyInt64
                        from appendTime in Since(v, 2, AnyInt64, -1L)
                        from logStart in Since(v, 5, AnyInt64, -1L)
                        from recordErrors in Since(v, 8, ListOf(recordError), new List<ProduceResponse.BatchIndexAndErrorMessage>())
                        from message in Since(v, 8, NullableText(), null)
                        select new ProduceResponse.PartitionProduceResponse
                        {
                            Index = index, ErrorCode = error, BaseOffset = baseOffset, LogAppendTimeMs = appendTime,
                            LogStartOffset = logStart, RecordErrors = recordErrors, ErrorMessage = message,
                        };
        var topic = from name in Text()
                    from partitions in ListOf(partition)
                    select new ProduceResponse.TopicProduceResponse { Name = name, PartitionResponses = partitions };
        return from topics in ListOf(topic)
               from throttle in Since(v, 1, AnyInt32, 0)
               select new ProduceResponse { Responses = topics, ThrottleTimeMs = throttle };
    }

    [Fact]
    public void Requests_round_trip_in_every_version_and_keep_records_as_slices()
    {
        foreach (short v in Versions(ApiKey.Produce))
            ForAll(RequestGen(v), m =>
            {
                byte[] encoding = Encode(m, v);
                var d = (ProduceRequest)Check(ApiKey.Produce, v, m, isRequest: true);
                Assert.Equal(m.Acks, d.Acks);
                Assert.Equal(m.TransactionalId, d.TransactionalId);

                // Decoding must not copy the record bytes: they are slices of the buffer that was read.
                var again = (ProduceRequest)Decode(ApiKey.Produce, v, encoding, isRequest: true);
                foreach (var p in again.TopicData.SelectMany(t => t.PartitionData).Where(p => p.Records is { Length: > 0 }))
                {
                    Assert.True(MemoryMarshal.TryGetArray(p.Records!.Value, out var segment));
                    Assert.Same(encoding, segment.Array);
                }
            });
    }

    [Fact]
    public void Responses_round_trip_in_every_version()
    {
        foreach (short v in Versions(ApiKey.Produce))
            ForAll(ResponseGen(v), m =>
            {
                var d = (ProduceResponse)Check(ApiKey.Produce, v, m, isRequest: false);
                Assert.Equal(m.Responses.SelectMany(t => t.PartitionResponses).Select(p => (p.ErrorCode, p.BaseOffset)),
                             d.Responses.SelectMany(t => t.PartitionResponses).Select(p => (p.ErrorCode, p.BaseOffset)));
            });
    }

    [Fact]
    public void Every_prefix_of_a_large_request_is_rejected()
    {
        foreach (short v in new short[] { 0, 3, 9 })
            ForAll(RequestGen(v).Where(m => m.TopicData.Count > 0), m =>
                CheckTruncations(ApiKey.Produce, v, Encode(m, v), isRequest: true, samples: int.MaxValue), maxTest: 5);
    }

    private static ProduceRequest OneBatch() => new()
    {
        TransactionalId = null,
        Acks = -1,
        TimeoutMs = 1000,
        TopicData = [new() { Name = "t", PartitionData = [new() { Index = 0, Records = new byte[] { 0xAA, 0xBB, 0xCC } }] }],
    };

    [Fact]
    public void V3_request_has_the_classic_layout()
    {
        byte[] expected =
        [
            0xFF, 0xFF,                     // transactional id null
            0xFF, 0xFF,                     // acks -1
            0, 0, 0x03, 0xE8,               // timeout 1000
            0, 0, 0, 1,                     // topics: 1
            0, 1, (byte)'t',                //   name "t"
            0, 0, 0, 1,                     //   partitions: 1
            0, 0, 0, 0,                     //     index 0
            0, 0, 0, 3, 0xAA, 0xBB, 0xCC,   //     records (int32 length)
        ];
        Assert.Equal(expected, Encode(OneBatch(), 3));
        // v0-2 have no transactional id.
        Assert.Equal(expected[2..], Encode(OneBatch(), 2));
    }

    [Fact]
    public void V9_request_is_flexible()
    {
        byte[] expected =
        [
            0x00,                           // transactional id null (compact)
            0xFF, 0xFF,                     // acks -1
            0, 0, 0x03, 0xE8,               // timeout 1000
            0x02,                           // topics: 1 (compact)
            0x02, (byte)'t',                //   name "t"
            0x02,                           //   partitions: 1
            0, 0, 0, 0,                     //     index 0
            0x04, 0xAA, 0xBB, 0xCC,         //     records (compact: length + 1)
            0x00,                           //     tagged fields
            0x00,                           //   tagged fields
            0x00,                           // tagged fields
        ];
        Assert.Equal(expected, Encode(OneBatch(), 9));
    }

    [Fact]
    public void V8_response_has_the_known_layout()
    {
        byte[] bytes =
        [
            0, 0, 0, 1,                             // responses: 1
            0, 1, (byte)'t',                        //   name "t"
            0, 0, 0, 1,                             //   partitions: 1
            0, 0, 0, 4,                             //     index 4
            0, 2,                                   //     error CORRUPT_MESSAGE
            0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, // base offset -1
            0, 0, 0, 0, 0, 0, 0, 9,                 //     log append time 9
            0, 0, 0, 0, 0, 0, 0, 5,                 //     log start offset 5
            0, 0, 0, 1,                             //     record errors: 1
            0, 0, 0, 3, 0xFF, 0xFF,                 //       batch index 3, message null
            0, 2, (byte)'n', (byte)'o',             //     error message "no"
            0, 0, 0, 0x64,                          // throttle 100
        ];
        var m = (ProduceResponse)Decode(ApiKey.Produce, 8, bytes, isRequest: false);
        var p = m.Responses.Single().PartitionResponses.Single();
        Assert.Equal(4, p.Index);
        Assert.Equal(ErrorCode.CorruptMessage, p.ErrorCode);
        Assert.Equal(-1, p.BaseOffset);
        Assert.Equal(9, p.LogAppendTimeMs);
        Assert.Equal(5, p.LogStartOffset);
        Assert.Equal(3, p.RecordErrors.Single().BatchIndex);
        Assert.Null(p.RecordErrors[0].BatchIndexErrorMessage);
        Assert.Equal("no", p.ErrorMessage);
        Assert.Equal(100, m.ThrottleTimeMs);
        Assert.Equal(bytes, Encode(m, 8));
    }

    [Fact]
    public void V0_response_is_what_an_old_client_reads_for_unsupported_version()
    {
        var m = new ProduceResponse
        {
            Responses = [new() { Name = "t", PartitionResponses = [new() { Index = 0, ErrorCode = ErrorCode.UnsupportedVersion, BaseOffset = -1 }] }],
            ThrottleTimeMs = 5,
        };
        byte[] expected =
        [
            0, 0, 0, 1, 0, 1, (byte)'t', 0, 0, 0, 1,
            0, 0, 0, 0, 0, 35, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        ];
        Assert.Equal(expected, Encode(m, 0));
    }
}
