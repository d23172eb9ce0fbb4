using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace DetKafka.Properties.Perf;

/// <summary>
/// The allocation-free hot paths must encode exactly what the plain paths encode: records copied from their
/// source while encoding, reused request and response objects, cached strings.
/// </summary>
public class HotPathTests
{
    private sealed class ArraySource(byte[] bytes) : IRecordsSource
    {
        public void CopyTo(long position, Span<byte> destination) => bytes.AsSpan((int)position, destination.Length).CopyTo(destination);
    }

    private static byte[] Encode(IKafkaMessage message, short version)
    {
        using var writer = new KafkaWriter(16);
        message.Write(writer, version);
        return writer.ToArray();
    }

    private static FetchResponse OnePartition(Action<FetchResponse.PartitionData> records) => new()
    {
        Responses =
        {
            new FetchResponse.FetchableTopicResponse
            {
                Topic = "t",
                Partitions = { Apply(new FetchResponse.PartitionData { PartitionIndex = 3, HighWatermark = 9 }, records) },
            },
        },
    };

    private static FetchResponse.PartitionData Apply(FetchResponse.PartitionData p, Action<FetchResponse.PartitionData> f)
    {
        f(p);
        return p;
    }

    [Fact]
    public void Records_copied_from_their_source_encode_as_the_same_bytes_as_records_in_memory()
    {
        var gen = from bytes in Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>())
                  from start in Gen.Choose(0, bytes.Length)
                  from length in Gen.Choose(0, bytes.Length - start)
                  from version in Gen.Choose(4, 12)
                  select (bytes, start, length, (short)version);
        Prop.ForAll(gen.ToArbitrary(), t =>
        {
            var (bytes, start, length, version) = t;
            var inMemory = OnePartition(p => p.Records = bytes.AsMemory(start, length));
            var fromSource = OnePartition(p => p.RecordsFrom = new RecordsSlice(new ArraySource(bytes), start, length));
            Assert.Equal(Encode(inMemory, version), Encode(fromSource, version));
        }).QuickCheckThrowOnFailure();
    }
}
