using DetKafka.Core.Records;
using FsCheck;
using FsCheck.Fluent;

namespace DetKafka.Properties.Records;

/// <summary>Generators of records and batches shared by the Records and Storage properties.</summary>
public static class RecordGen
{
    public const long BaseTime = 1_700_000_000_000;

    public static Gen<byte[]> ByteArray(int maxLength) =>
        Gen.Choose(0, maxLength).SelectMany(n => Gen.ArrayOf(Gen.Choose(0, 255).Select(b => (byte)b), n));

    public static Gen<byte[]?> NullableBytes(int maxLength) =>
        Gen.Frequency((1, Gen.Constant<byte[]?>(null)), (6, ByteArray(maxLength).Select(a => (byte[]?)a)));

    public static Gen<RecordHeader> Header =>
        from key in Gen.Elements("a", "trace-id", "ümlaut", "")
        from value in NullableBytes(6)
        select new RecordHeader(key, value);

    public static Gen<SimpleRecord> Record(long minTime = BaseTime, int timeSpread = 100_000) =>
        from key in NullableBytes(12)
        from value in NullableBytes(40)
        from dt in Gen.Choose(0, timeSpread)
        from headers in Gen.Choose(0, 3).SelectMany(n => Gen.ListOf(Header, n))
        select new SimpleRecord(key, value, minTime + dt, headers.ToList());

    public static Gen<List<SimpleRecord>> Records(int max = 6) =>
        Gen.Choose(1, max).SelectMany(n => Gen.ListOf(Record(), n)).Select(l => l.ToList());

    public static Gen<CompressionCodec> Codec => Gen.Elements(CompressionCodec.None, CompressionCodec.Gzip,
        CompressionCodec.Snappy, CompressionCodec.Lz4, CompressionCodec.Zstd);

    /// <summary>A batch as a producer sends it, with the records it holds.</summary>
    public static Gen<(byte[] Batch, List<SimpleRecord> Records, CompressionCodec Codec)> Batch(int maxRecords = 6) =>
        from records in Records(maxRecords)
        from codec in Codec
        select (RecordBatchBuilder.Build(records, codec), records, codec);

    public static bool SameContent(SimpleRecord expected, DecodedRecord actual, bool compareTimestamp = true) =>
        Same(expected.Key, actual.Key) && Same(expected.Value, actual.Value)
        && (!compareTimestamp || expected.Timestamp == actual.Timestamp)
        && (expected.Headers ?? []).Count == actual.Headers.Count
        && (expected.Headers ?? []).Zip(actual.Headers).All(p => p.First.Key == p.Second.Key && Same(p.First.Value, p.Second.Value));

    public static bool Same(byte[]? a, byte[]? b) => a is null ? b is null : b is not null && a.AsSpan().SequenceEqual(b);
}
