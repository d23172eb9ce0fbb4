using System.Buffers;
using DetKafka.Core.Util;

namespace DetKafka.Core.Records.Compression;

/// <summary>
/// One of Kafka's record batch compression codecs (attributes bits 0-2). Implementations share no mutable state
/// between threads (the host's perf workers compress on several; zstd keeps one context per thread) and are
/// deterministic: the same input always compresses to the same bytes, so the simulator can drive them.
/// </summary>
public interface ICompressionCodec
{
    CompressionCodec Id { get; }

    /// <summary>Appends the compressed form of <paramref name="input"/> to <paramref name="output"/>, in the
    /// framing Kafka's Java producer writes.</summary>
    void Compress(ReadOnlySpan<byte> input, IBufferWriter<byte> output);

    /// <summary>
    /// Appends the decompressed form of <paramref name="input"/> to <paramref name="output"/>. Never throws on bad
    /// input: returns false with a reason when the input is corrupt or truncated, or when it inflates past the
    /// output's <see cref="PooledBuffer.Limit"/> (then decoding stops there, so a bomb costs at most the limit).
    /// </summary>
    bool TryDecompress(ReadOnlySpan<byte> input, PooledBuffer output, out string? error);
}

/// <summary>The codec for each <see cref="CompressionCodec"/>: the one place that maps ids to implementations.</summary>
public static class CompressionCodecs
{
    public static ICompressionCodec Gzip { get; } = new GzipCodec();
    public static ICompressionCodec Snappy { get; } = new SnappyCodec();
    public static ICompressionCodec Lz4 { get; } = new Lz4Codec();
    public static ICompressionCodec Zstd { get; } = new ZstdCodec();

    /// <summary>The compressed codecs, in id order.</summary>
    public static IReadOnlyList<ICompressionCodec> All { get; } = [Gzip, Snappy, Lz4, Zstd];

    /// <summary>The codec for <paramref name="id"/>; null for <see cref="CompressionCodec.None"/> and unknown ids.</summary>
    public static ICompressionCodec? For(CompressionCodec id) => id switch
    {
        CompressionCodec.Gzip => Gzip,
        CompressionCodec.Snappy => Snappy,
        CompressionCodec.Lz4 => Lz4,
        CompressionCodec.Zstd => Zstd,
        _ => null,
    };

    /// <summary>Kafka's names (compression.type, the producer's compression.type), lower case.</summary>
    public static string NameOf(CompressionCodec id) => id switch
    {
        CompressionCodec.None => "none",
        CompressionCodec.Gzip => "gzip",
        CompressionCodec.Snappy => "snappy",
        CompressionCodec.Lz4 => "lz4",
        CompressionCodec.Zstd => "zstd",
        _ => throw new ArgumentOutOfRangeException(nameof(id), id, "unknown codec"),
    };

    /// <summary>Parses a producer's compression.type: none, gzip, snappy, lz4 or zstd (case-insensitive).</summary>
    public static bool TryParse(string? text, out CompressionCodec codec)
    {
        switch (text?.Trim().ToLowerInvariant())
        {
            case "none": codec = CompressionCodec.None; return true;
            case "gzip": codec = CompressionCodec.Gzip; return true;
            case "snappy": codec = CompressionCodec.Snappy; return true;
            case "lz4": codec = CompressionCodec.Lz4; return true;
            case "zstd": codec = CompressionCodec.Zstd; return true;
            default: codec = CompressionCodec.None; return false;
        }
    }

    /// <summary>Compresses <paramref name="input"/> into a new array (clients and tests; the broker reuses buffers).</summary>
    public static byte[] Compress(CompressionCodec id, ReadOnlySpan<byte> input)
    {
        var codec = For(id) ?? throw new ArgumentOutOfRangeException(nameof(id), id, "not a compression codec");
        using var output = new PooledBuffer(Math.Max(64, input.Length / 2 + 64));
        codec.Compress(input, output);
        return output.WrittenSpan.ToArray();
    }
}

/// <summary>Raised by <see cref="PooledBuffer"/> when a write would pass its limit; codecs turn it into a false return.</summary>
internal sealed class OutputLimitExceededException(int limit) : Exception($"output exceeds {limit} bytes")
{
    public int Limit { get; } = limit;
}

/// <summary>
/// A growable byte buffer on <see cref="ArrayPool{T}.Shared"/> that refuses to hold more than <see cref="Limit"/>
/// bytes: the bound that makes decompression safe. Capacity never exceeds the limit plus the largest single request
/// a codec makes (<see cref="HintSlack"/>), so memory stays bounded even when a decoder asks for a whole block at once.
/// Dispose returns the array.
/// </summary>
public sealed class PooledBuffer : IBufferWriter<byte>, IDisposable
{
    /// <summary>Largest span a codec may ask for beyond the limit (LZ4's biggest block is 4 MiB).</summary>
    public const int HintSlack = 4 * 1024 * 1024 + 64;

    private const int MinimumGrowth = 256;

    private byte[] _array;
    private int _written;

    public PooledBuffer(int initialCapacity, int limit = int.MaxValue)
    {
        Check.That(initialCapacity >= 0 && limit >= 0);
        Limit = limit;
        _array = ArrayPool<byte>.Shared.Rent(Math.Max(1, Math.Min(initialCapacity, limit)));
    }

    /// <summary>Most bytes the buffer will hold.</summary>
    public int Limit { get; private set; }

    public int Length => _written;

    public Span<byte> WrittenSpan => _array.AsSpan(0, _written);

    public Memory<byte> WrittenMemory => _array.AsMemory(0, _written);

    /// <summary>Empties the buffer and sets a new limit, renting an array of at least <paramref name="capacity"/> bytes
    /// if the buffer was disposed or is smaller: a long-lived owner rents per use and disposes after, holding no
    /// array in between.</summary>
    public void Rent(int capacity, int limit = int.MaxValue)
    {
        Reset(limit);
        if (_array.Length >= Math.Max(1, capacity)) return;
        if (_array.Length > 0) ArrayPool<byte>.Shared.Return(_array);
        _array = ArrayPool<byte>.Shared.Rent(Math.Max(1, capacity));
    }

    /// <summary>Empties the buffer and sets a new limit; the array is kept.</summary>
    public void Reset(int limit = int.MaxValue)
    {
        Check.That(limit >= 0);
        _written = 0;
        Limit = limit;
    }

    /// <summary>Drops bytes past <paramref name="length"/> (undoes a partial write).</summary>
    public void Truncate(int length)
    {
        Check.That(length >= 0 && length <= _written);
        _written = length;
    }

    public void Advance(int count)
    {
        Check.That(count >= 0 && _written + (long)count <= _array.Length);
        if (_written + (long)count > Limit) throw new OutputLimitExceededException(Limit);
        _written += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _array.AsMemory(_written);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _array.AsSpan(_written);
    }

    public void Write(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(GetSpan(bytes.Length));
        Advance(bytes.Length);
    }

    private void Ensure(int sizeHint)
    {
        int wanted = Math.Max(sizeHint, 1);
        if (_array.Length - _written >= wanted) return;
        long needed = (long)_written + wanted;
        long cap = Math.Min((long)Limit + HintSlack, Array.MaxLength);
        if (needed > cap) throw new OutputLimitExceededException(Limit);
        long size = Math.Min(cap, Math.Max(needed, Math.Max(MinimumGrowth, 2L * _array.Length)));
        var bigger = ArrayPool<byte>.Shared.Rent((int)size);
        _array.AsSpan(0, _written).CopyTo(bigger);
        if (_array.Length > 0) ArrayPool<byte>.Shared.Return(_array);
        _array = bigger;
    }

    public void Dispose()
    {
        var array = _array;
        _array = [];
        _written = 0;
        if (array.Length > 0) ArrayPool<byte>.Shared.Return(array);
    }
}
