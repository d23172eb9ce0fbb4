using System.Buffers;
using System.Buffers.Binary;
using System.IO;
using System.IO.Compression;
using DetKafka.Core.Util;
using K4os.Compression.LZ4;
using K4os.Compression.LZ4.Streams;
using ZstdSharp;
using ZstdSharp.Unsafe;

namespace DetKafka.Core.Records.Compression;

/// <summary>Shared guard: library decoders signal corrupt input by throwing assorted exceptions; codecs report them.</summary>
internal static class Decoding
{
    /// <summary>Runs <paramref name="decode"/>; the output limit and any library exception become a false return.
    /// Our own invariant failures still propagate.</summary>
    public static bool Guard(string codec, PooledBuffer output, int start, Func<string?> decode, out string? error)
    {
        try
        {
            error = decode();
        }
        catch (OutputLimitExceededException e)
        {
            error = $"{codec}: decompresses to more than {e.Limit} bytes";
        }
        catch (Exception e) when (e is not InvariantViolationException and not OutOfMemoryException)
        {
            error = $"{codec}: {e.GetType().Name}: {e.Message}";
        }
        if (error is null) return true;
        output.Truncate(start);
        return false;
    }
}

/// <summary>gzip (RFC 1952) at zlib's default level, as Java's GZIPOutputStream writes it; concatenated members are read as one stream.</summary>
internal sealed class GzipCodec : ICompressionCodec
{
    private const int ReadChunk = 64 * 1024;

    public CompressionCodec Id => CompressionCodec.Gzip;

    public void Compress(ReadOnlySpan<byte> input, IBufferWriter<byte> output)
    {
        using var sink = new BufferWriterStream(output);
        // Optimal is zlib's level 6, the default of Java's GZIPOutputStream and librdkafka; Fastest (level 1) stores
        // text barely smaller than it came.
        using (var gzip = new GZipStream(sink, CompressionLevel.Optimal, leaveOpen: true))
            gzip.Write(input);
    }

    public bool TryDecompress(ReadOnlySpan<byte> input, PooledBuffer output, out string? error)
    {
        // GZipStream reads from a Stream, so the span is copied once into a pooled array.
        byte[] copy = ArrayPool<byte>.Shared.Rent(Math.Max(1, input.Length));
        try
        {
            input.CopyTo(copy);
            int length = input.Length;
            return Decoding.Guard("gzip", output, output.Length, () =>
            {
                using var source = new MemoryStream(copy, 0, length, writable: false);
                using var gzip = new GZipStream(source, CompressionMode.Decompress);
                // Each read asks for at most ReadChunk bytes and the buffer refuses to pass its limit.
                while (true)
                {
                    var span = output.GetSpan(ReadChunk);
                    int read = gzip.Read(span[..Math.Min(span.Length, ReadChunk)]);
                    if (read == 0) return null;
                    output.Advance(read);
                }
            }, out error);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(copy);
        }
    }
}

/// <summary>
/// Snappy. Writes Kafka's xerial framing (what Java's SnappyOutputStream writes: a 16-byte header, then blocks of at
/// most 32 KiB, each a big-endian length and a raw snappy block); reads both that and a single raw snappy block,
/// which librdkafka writes.
/// </summary>
internal sealed class SnappyCodec : ICompressionCodec
{
    /// <summary>xerial's magic: 0x82 "SNAPPY" 0x00.</summary>
    private static ReadOnlySpan<byte> XerialMagic => [0x82, (byte)'S', (byte)'N', (byte)'A', (byte)'P', (byte)'P', (byte)'Y', 0];

    private const int XerialHeaderSize = 16;
    private const int XerialVersion = 1;
    private const int XerialCompatibleVersion = 1;
    private const int XerialBlockSize = 32 * 1024;

    public CompressionCodec Id => CompressionCodec.Snappy;

    public void Compress(ReadOnlySpan<byte> input, IBufferWriter<byte> output)
    {
        var header = output.GetSpan(XerialHeaderSize);
        XerialMagic.CopyTo(header);
        BinaryPrimitives.WriteInt32BigEndian(header[8..], XerialVersion);
        BinaryPrimitives.WriteInt32BigEndian(header[12..], XerialCompatibleVersion);
        output.Advance(XerialHeaderSize);
        for (int at = 0; at < input.Length; at += XerialBlockSize)
        {
            var block = input.Slice(at, Math.Min(XerialBlockSize, input.Length - at));
            var span = output.GetSpan(4 + Snappier.Snappy.GetMaxCompressedLength(block.Length));
            int written = Snappier.Snappy.Compress(block, span[4..]);
            BinaryPrimitives.WriteInt32BigEndian(span, written);
            output.Advance(4 + written);
        }
    }

    public bool TryDecompress(ReadOnlySpan<byte> input, PooledBuffer output, out string? error)
    {
        if (!IsXerial(input)) return Block(input, output, out error);
        int start = output.Length;
        var rest = input[XerialHeaderSize..];
        while (rest.Length > 0)
        {
            if (rest.Length < 4)
            {
                error = "snappy: truncated xerial block length";
                output.Truncate(start);
                return false;
            }
            int length = BinaryPrimitives.ReadInt32BigEndian(rest);
            if (length < 0 || length > rest.Length - 4)
            {
                error = $"snappy: xerial block of {length} bytes with {rest.Length - 4} left";
                output.Truncate(start);
                return false;
            }
            if (!Block(rest.Slice(4, length), output, out error))
            {
                output.Truncate(start);
                return false;
            }
            rest = rest[(4 + length)..];
        }
        error = null;
        return true;
    }

    private static bool IsXerial(ReadOnlySpan<byte> input)
        => input.Length >= XerialHeaderSize && input[..XerialMagic.Length].SequenceEqual(XerialMagic);

    /// <summary>One raw block: its header states the decompressed length, checked against the limit before decoding.</summary>
    private static bool Block(ReadOnlySpan<byte> block, PooledBuffer output, out string? error)
    {
        int start = output.Length;
        try
        {
            int length = Snappier.Snappy.GetUncompressedLength(block);
            if (length < 0 || (long)output.Length + length > output.Limit)
            {
                error = $"snappy: decompresses to more than {output.Limit} bytes";
                return false;
            }
            var span = output.GetSpan(length);
            int written = Snappier.Snappy.Decompress(block, span[..length]);
            if (written != length)
            {
                error = $"snappy: block said {length} bytes but held {written}";
                return false;
            }
            output.Advance(written);
            error = null;
            return true;
        }
        catch (OutputLimitExceededException e)
        {
            error = $"snappy: decompresses to more than {e.Limit} bytes";
            output.Truncate(start);
            return false;
        }
        catch (Exception e) when (e is not InvariantViolationException and not OutOfMemoryException)
        {
            error = $"snappy: {e.GetType().Name}: {e.Message}";
            output.Truncate(start);
            return false;
        }
    }
}

/// <summary>
/// LZ4 frame format (what Kafka calls lz4 since message format 1 was fixed: a correct header checksum). Writes
/// independent 64 KiB blocks without checksums, as Kafka's Java producer does; reads any frame K4os accepts (block
/// sizes up to 4 MiB, dependent or independent blocks, with or without checksums).
/// </summary>
internal sealed class Lz4Codec : ICompressionCodec
{
    private const uint FrameMagic = 0x184D2204;

    /// <summary>FLG: version 01, independent blocks, no block checksum, no content size, no content checksum.</summary>
    private const byte Flags = 0x60;

    /// <summary>BD: 64 KiB maximum block size (id 4).</summary>
    private const byte BlockDescriptor = 0x40;

    private const int BlockSize = 64 * 1024;
    private const uint UncompressedBlockFlag = 0x80000000;

    public CompressionCodec Id => CompressionCodec.Lz4;

    /// <summary>Writes the frame directly with LZ4's block encoder (K4os' frame writer sets up a fresh encoder per
    /// call, which costs more than compressing a 16 KiB batch).</summary>
    public void Compress(ReadOnlySpan<byte> input, IBufferWriter<byte> output)
    {
        var header = output.GetSpan(7);
        BinaryPrimitives.WriteUInt32LittleEndian(header, FrameMagic);
        header[4] = Flags;
        header[5] = BlockDescriptor;
        // Header checksum: the second byte of xxHash32 (seed 0) of the descriptor, as the frame format specifies.
        header[6] = (byte)(K4os.Hash.xxHash.XXH32.DigestOf(header.Slice(4, 2)) >> 8);
        output.Advance(7);
        for (int at = 0; at < input.Length; at += BlockSize)
        {
            var block = input.Slice(at, Math.Min(BlockSize, input.Length - at));
            var span = output.GetSpan(4 + Math.Max(block.Length, LZ4Codec.MaximumOutputSize(block.Length)));
            int written = LZ4Codec.Encode(block, span[4..], LZ4Level.L00_FAST);
            if (written <= 0 || written >= block.Length)
            {
                // Incompressible: stored as is, flagged by the size's high bit.
                block.CopyTo(span[4..]);
                BinaryPrimitives.WriteUInt32LittleEndian(span, UncompressedBlockFlag | (uint)block.Length);
                written = block.Length;
            }
            else
            {
                BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)written);
            }
            output.Advance(4 + written);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(output.GetSpan(4), 0); // end mark
        output.Advance(4);
    }

    public bool TryDecompress(ReadOnlySpan<byte> input, PooledBuffer output, out string? error)
    {
        int start = output.Length;
        try
        {
            LZ4Frame.Decode(input, output, 0);
            error = null;
            return true;
        }
        catch (OutputLimitExceededException e)
        {
            error = $"lz4: decompresses to more than {e.Limit} bytes";
        }
        catch (Exception e) when (e is not InvariantViolationException and not OutOfMemoryException)
        {
            error = $"lz4: {e.GetType().Name}: {e.Message}";
        }
        output.Truncate(start);
        return false;
    }
}

/// <summary>
/// Zstandard, level 3 (Kafka's default). Decoding streams block by block into the bounded buffer and caps the
/// window the frame may ask for at what the limit could ever need, so a tiny frame claiming a 2 GiB window is
/// refused instead of allocated. Concatenated frames are read in turn.
/// </summary>
internal sealed class ZstdCodec : ICompressionCodec
{
    public const int Level = 3;
    private const int OutputChunk = 128 * 1024;
    private const int WindowLogMin = 10;

    /// <summary>zstd's ZSTD_WINDOWLOG_LIMIT_DEFAULT: what any decoder accepts without opting in to more.</summary>
    private const int WindowLogDefaultMax = 27;

    public CompressionCodec Id => CompressionCodec.Zstd;

    // zstd contexts are costly to set up (tables of a few hundred KiB) and cheap to reuse; one per thread keeps the
    // codec shareable (the broker's Core runs on one thread, the perf tool compresses on several). Reuse does not change
    // the output: every call starts a fresh frame with the same parameters.
    [ThreadStatic] private static Compressor? t_compressor;
    [ThreadStatic] private static Decompressor? t_decompressor;

    public void Compress(ReadOnlySpan<byte> input, IBufferWriter<byte> output)
    {
        var compressor = t_compressor ??= new Compressor(Level);
        var span = output.GetSpan(Compressor.GetCompressBound(input.Length));
        output.Advance(compressor.Wrap(input, span));
    }

    public bool TryDecompress(ReadOnlySpan<byte> input, PooledBuffer output, out string? error)
    {
        int start = output.Length;
        try
        {
            // A frame that states its content size (zstd's one-shot API, librdkafka) is refused before decoding if that
            // size is past the limit; streamed frames state none and are cut while decoding.
            ulong stated = DeclaredSize(input);
            if (stated != ulong.MaxValue && stated > (ulong)(output.Limit - output.Length))
            {
                error = $"zstd: decompresses to more than {output.Limit} bytes (the frame says {stated})";
                return false;
            }
            int windowLog = WindowLogFor(output.Limit);
            var decompressor = t_decompressor ??= new Decompressor();
            // Whatever the last call left (a failed frame mid-way), start clean.
            decompressor.ResetStream();
            decompressor.SetParameter(ZSTD_dParameter.ZSTD_d_windowLogMax, windowLog);
            int position = 0;
            bool inFrame = false;
            while (true)
            {
                var span = output.GetSpan(OutputChunk);
                var status = decompressor.UnwrapStream(input[position..], span[..Math.Min(span.Length, OutputChunk)],
                    out int consumed, out int written);
                position += consumed;
                output.Advance(written);
                if (consumed > 0 || written > 0) inFrame = true;
                if (status == OperationStatus.Done)
                {
                    inFrame = false;
                    if (position == input.Length) break;
                    decompressor.ResetStream();
                    continue;
                }
                if (status == OperationStatus.InvalidData)
                {
                    error = $"zstd: invalid data, or a window larger than the {1L << windowLog} bytes the limit allows";
                    output.Truncate(start);
                    return false;
                }
                if (status == OperationStatus.NeedMoreData && position == input.Length)
                {
                    error = inFrame ? "zstd: truncated frame" : "zstd: no frame";
                    output.Truncate(start);
                    return false;
                }
                if (consumed == 0 && written == 0 && status != OperationStatus.DestinationTooSmall)
                {
                    error = $"zstd: no progress ({status})";
                    output.Truncate(start);
                    return false;
                }
            }
            error = null;
            return true;
        }
        catch (OutputLimitExceededException e)
        {
            error = $"zstd: decompresses to more than {e.Limit} bytes";
        }
        catch (Exception e) when (e is not InvariantViolationException and not OutOfMemoryException)
        {
            error = $"zstd: {e.GetType().Name}: {e.Message}";
        }
        output.Truncate(start);
        return false;
    }

    /// <summary>The content size the first frame states; <see cref="ulong.MaxValue"/> when it states none or is not a frame.</summary>
    private static ulong DeclaredSize(ReadOnlySpan<byte> input)
    {
        try
        {
            ulong size = Decompressor.GetDecompressedSize(input);
            // zstd's ZSTD_CONTENTSIZE_UNKNOWN and ZSTD_CONTENTSIZE_ERROR are the two largest values.
            return size >= ulong.MaxValue - 1 ? ulong.MaxValue : size;
        }
        catch (Exception e) when (e is not InvariantViolationException and not OutOfMemoryException)
        {
            return ulong.MaxValue;
        }
    }

    /// <summary>The smallest window log that covers <paramref name="limit"/> bytes: a frame never needs a window larger
    /// than its content, and content past the limit is refused anyway.</summary>
    internal static int WindowLogFor(int limit)
    {
        int log = WindowLogMin;
        while (log < WindowLogDefaultMax && (1L << log) < limit) log++;
        return log;
    }
}

/// <summary>A write-only Stream over an <see cref="IBufferWriter{T}"/>, for encoders that only write to streams.</summary>
internal sealed class BufferWriterStream(IBufferWriter<byte> output) : Stream
{
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        buffer.CopyTo(output.GetSpan(buffer.Length));
        output.Advance(buffer.Length);
    }
}
