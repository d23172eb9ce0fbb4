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

/// <summary>
/// What every codec shares: decoding never throws. Library decoders signal corrupt input by throwing assorted
/// exceptions and <see cref="PooledBuffer"/> signals the limit by throwing; both become a false return with a reason,
/// and whatever the failed call had written is dropped. Our own invariant failures still propagate.
/// </summary>
internal abstract class CodecBase : ICompressionCodec
{
    public abstract CompressionCodec Id { get; }

    private string Name => CompressionCodecs.NameOf(Id);

    public abstract void Compress(ReadOnlySpan<byte> input, IBufferWriter<byte> output);

    public bool TryDecompress(ReadOnlySpan<byte> input, PooledBuffer output, out string? error)
    {
        int start = output.Length;
        try
        {
            error = Decode(input, output);
        }
        catch (OutputLimitExceededException e)
        {
            error = $"decompresses to more than {e.Limit} bytes";
        }
        catch (Exception e) when (e is not InvariantViolationException and not OutOfMemoryException)
        {
            error = $"{e.GetType().Name}: {e.Message}";
        }
        if (error is null) return true;
        error = $"{Name}: {error}";
        output.Truncate(start);
        return false;
    }

    /// <summary>Appends the decompressed input to <paramref name="output"/>; returns null, or why the input is bad. May
    /// throw on bad input (see the class comment).</summary>
    protected abstract string? Decode(ReadOnlySpan<byte> input, PooledBuffer output);

    /// <summary>The reason a decoder reports when a stated size passes the limit before anything is decoded.</summary>
    protected static string TooLarge(PooledBuffer output, string detail) => $"decompresses to more than {output.Limit} bytes ({detail})";
}

/// <summary>gzip (RFC 1952) at zlib's default level, as Java's GZIPOutputStream writes it; concatenated members are read as one stream.</summary>
internal sealed class GzipCodec : CodecBase
{
    private const int ReadChunk = 64 * 1024;

    public override CompressionCodec Id => CompressionCodec.Gzip;

    public override void Compress(ReadOnlySpan<byte> input, IBufferWriter<byte> output)
    {
        using var sink = new BufferWriterStream(output);
        // Optimal is zlib's level 6, the default of Java's GZIPOutputStream and librdkafka; Fastest (level 1) stores
        // text barely smaller than it came.
        using (var gzip = new GZipStream(sink, CompressionLevel.Optimal, leaveOpen: true))
            gzip.Write(input);
    }

    protected override string? Decode(ReadOnlySpan<byte> input, PooledBuffer output)
    {
        // GZipStream reads from a Stream, so the span is copied once into a pooled array.
        byte[] copy = ArrayPool<byte>.Shared.Rent(Math.Max(1, input.Length));
        try
        {
            input.CopyTo(copy);
            using var source = new MemoryStream(copy, 0, input.Length, writable: false);
            using var gzip = new GZipStream(source, CompressionMode.Decompress);
            // Each read asks for at most ReadChunk bytes and the buffer refuses to pass its limit.
            while (true)
            {
                var span = output.GetSpan(ReadChunk);
                int read = gzip.Read(span[..Math.Min(span.Length, ReadChunk)]);
                if (read == 0) return null;
                output.Advance(read);
            }
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
internal sealed class SnappyCodec : CodecBase
{
    /// <summary>xerial's magic: 0x82 "SNAPPY" 0x00.</summary>
    private static ReadOnlySpan<byte> XerialMagic => [0x82, (byte)'S', (byte)'N', (byte)'A', (byte)'P', (byte)'P', (byte)'Y', 0];

    private const int XerialHeaderSize = 16;
    private const int XerialVersion = 1;
    private const int XerialCompatibleVersion = 1;
    private const int XerialBlockSize = 32 * 1024;

    public override CompressionCodec Id => CompressionCodec.Snappy;

    public override void Compress(ReadOnlySpan<byte> input, IBufferWriter<byte> output)
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

    protected override string? Decode(ReadOnlySpan<byte> input, PooledBuffer output)
    {
        if (!IsXerial(input)) return Block(input, output);
        var rest = input[XerialHeaderSize..];
        while (rest.Length > 0)
        {
            if (rest.Length < 4) return "truncated xerial block length";
            int length = BinaryPrimitives.ReadInt32BigEndian(rest);
            if (length < 0 || length > rest.Length - 4) return $"xerial block of {length} bytes with {rest.Length - 4} left";
            if (Block(rest.Slice(4, length), output) is { } error) return error;
            rest = rest[(4 + length)..];
        }
        return null;
    }

    private static bool IsXerial(ReadOnlySpan<byte> input)
        => input.Length >= XerialHeaderSize && input[..XerialMagic.Length].SequenceEqual(XerialMagic);

    /// <summary>One raw block: its preamble states the decompressed length, checked against the limit before decoding.</summary>
    private static string? Block(ReadOnlySpan<byte> block, PooledBuffer output)
    {
        int length = Snappier.Snappy.GetUncompressedLength(block);
        if (length < 0 || (long)output.Length + length > output.Limit) return TooLarge(output, $"a block says {length}");
        var span = output.GetSpan(length);
        int written = Snappier.Snappy.Decompress(block, span[..length]);
        if (written != length) return $"block said {length} bytes but held {written}";
        output.Advance(written);
        return null;
    }
}

/// <summary>
/// LZ4 frame format (what Kafka calls lz4 since message format 1 was fixed: a correct header checksum). Writes
/// independent 64 KiB blocks without checksums, as Kafka's Java producer does; reads any frame K4os accepts (block
/// sizes up to 4 MiB, dependent or independent blocks, with or without checksums).
/// </summary>
internal sealed class Lz4Codec : CodecBase
{
    private const uint FrameMagic = 0x184D2204;

    /// <summary>FLG: version 01, independent blocks, no block checksum, no content size, no content checksum.</summary>
    private const byte Flags = 0x60;

    /// <summary>BD: 64 KiB maximum block size (id 4).</summary>
    private const byte BlockDescriptor = 0x40;

    private const int BlockSize = 64 * 1024;
    private const uint UncompressedBlockFlag = 0x80000000;

    public override CompressionCodec Id => CompressionCodec.Lz4;

    /// <summary>Writes the frame directly with LZ4's block encoder (K4os' frame writer sets up a fresh encoder per
    /// call, which costs more than compressing a 16 KiB batch).</summary>
    public override void Compress(ReadOnlySpan<byte> input, IBufferWriter<byte> output)
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

    /// <summary>K4os' frame reader asks the buffer for at most one block (4 MiB) at a time; the buffer stops it at
    /// the limit.</summary>
    protected override string? Decode(ReadOnlySpan<byte> input, PooledBuffer output)
    {
        LZ4Frame.Decode(input, output, 0);
        return null;
    }
}

/// <summary>
/// Zstandard, level 3 (Kafka's default). Decoding streams block by block into the bounded buffer and caps the
/// window a frame may ask for at what the limit could ever need (at least 8 MiB), so a tiny frame claiming a 1 GiB
/// window is refused instead of allocated. Concatenated frames are read in turn.
/// </summary>
internal sealed class ZstdCodec : CodecBase
{
    public const int Level = 3;
    private const int OutputChunk = 128 * 1024;
    /// <summary>8 MiB: zstd's recommended minimum a decoder supports.</summary>
    private const int WindowLogMin = 23;

    /// <summary>zstd's ZSTD_WINDOWLOG_LIMIT_DEFAULT: what any decoder accepts without opting in to more.</summary>
    private const int WindowLogDefaultMax = 27;

    public override CompressionCodec Id => CompressionCodec.Zstd;

    // zstd contexts are costly to set up (tables of a few hundred KiB) and cheap to reuse; one per thread keeps the
    // codec shareable (the broker's Core runs on one thread, the perf tool compresses on several). Reuse does not change
    // the output: every call starts a fresh frame with the same parameters.
    [ThreadStatic] private static Compressor? t_compressor;
    [ThreadStatic] private static Decompressor? t_decompressor;

    public override void Compress(ReadOnlySpan<byte> input, IBufferWriter<byte> output)
    {
        var compressor = t_compressor ??= new Compressor(Level);
        var span = output.GetSpan(Compressor.GetCompressBound(input.Length));
        output.Advance(compressor.Wrap(input, span));
    }

    protected override string? Decode(ReadOnlySpan<byte> input, PooledBuffer output)
    {
        // A frame that states its content size (zstd's one-shot API, librdkafka) is refused before decoding if that size
        // is past the limit; streamed frames state none and are cut while decoding.
        ulong stated = DeclaredSize(input);
        if (stated != ulong.MaxValue && stated > (ulong)(output.Limit - output.Length)) return TooLarge(output, $"the frame says {stated}");
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
            switch (status)
            {
                case OperationStatus.Done:
                    if (position == input.Length) return null;
                    // Another frame follows.
                    inFrame = false;
                    decompressor.ResetStream();
                    continue;
                case OperationStatus.InvalidData:
                    return $"invalid data, or a window larger than the {1L << windowLog} bytes allowed";
                case OperationStatus.NeedMoreData when position == input.Length:
                    return inFrame ? "truncated frame" : "no frame";
            }
            // Every round consumes input or produces output, or the output span was too small (it grows next round).
            if (consumed == 0 && written == 0 && status != OperationStatus.DestinationTooSmall) return $"no progress ({status})";
        }
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

    /// <summary>The smallest window log that covers <paramref name="limit"/> bytes (a frame never needs a window larger
    /// than its content, and content past the limit is refused anyway), but at least 8 MiB, the window zstd's format
    /// asks every decoder to support, which streaming encoders declare whatever the content.</summary>
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
