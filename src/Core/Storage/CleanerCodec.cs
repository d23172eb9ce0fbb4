using System.IO;
using System.IO.Compression;
using DetKafka.Core.Util;

namespace DetKafka.Core.Storage;

/// <summary>
/// The cleaner's decompress/recompress of a batch body. Only gzip exists in Core today; a batch in any other
/// codec is kept whole by the cleaner (never compacted) until that codec is available here. Input is a batch
/// from our own log, already validated, so the output bound is the validator's.
/// </summary>
internal static class CleanerCodec
{
    public static byte[] Gunzip(ReadOnlySpan<byte> compressed)
    {
        using var source = new MemoryStream(compressed.ToArray(), writable: false);
        using var gzip = new GZipStream(source, CompressionMode.Decompress);
        using var output = new MemoryStream();
        gzip.CopyTo(output);
        Check.That(output.Length <= Records.RecordValidationOptions.DefaultMaxUncompressedBytes, "validated batches inflate within the bound");
        return output.ToArray();
    }

    public static byte[] Gzip(ReadOnlySpan<byte> data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
            gzip.Write(data);
        return output.ToArray();
    }
}
