using DetKafka.Core.Records;
using DetKafka.Core.Records.Compression;
using DetKafka.Core.Util;

namespace DetKafka.Core.Storage;

/// <summary>
/// The cleaner's use of the record batch codecs: a compressed batch that loses records is decompressed, filtered
/// and compressed again with its own codec (Kafka keeps a batch's codec through cleaning). Only batches the log
/// already validated get here, so a failure to decompress is a broken invariant, not bad input.
/// </summary>
internal static class CleanerCodec
{
    /// <summary>Whether the cleaner can open and rebuild batches of <paramref name="codec"/> (every codec Core has).</summary>
    public static bool CanRewrite(CompressionCodec codec) => codec == CompressionCodec.None || CompressionCodecs.For(codec) is not null;

    public static byte[] Decompress(CompressionCodec codec, ReadOnlySpan<byte> compressed)
    {
        var decoder = CompressionCodecs.For(codec);
        Check.That(decoder is not null, "only batches of a known codec are opened");
        using var output = new PooledBuffer(Math.Max(256, compressed.Length * 4), RecordValidationOptions.MaxUncompressedBytesCeiling);
        Check.That(decoder.TryDecompress(compressed, output, out string? error), $"a validated batch decompresses ({error})");
        return output.WrittenSpan.ToArray();
    }

    public static byte[] Compress(CompressionCodec codec, ReadOnlySpan<byte> data) => CompressionCodecs.Compress(codec, data);
}
