using System.Buffers.Binary;
using System.Text;

namespace DetKafka.Core.Protocol;

/// <summary>
/// Reads Kafka protocol primitives (big-endian ints, varints, classic and compact strings/bytes/arrays,
/// tagged fields) from a byte array segment. A mutable struct rather than a ref struct so that decoded
/// messages can keep <see cref="ReadOnlyMemory{T}"/> slices of the request (record batches) without copying.
/// Pass it by <c>ref</c>. Every read is bounds-checked and throws <see cref="ProtocolException"/>.
/// </summary>
public struct KafkaReader
{
    /// <summary>Upper bound on any array length we accept, whatever the frame says: bounds allocation.</summary>
    public const int ArrayLengthMax = 1 << 20;

    private readonly byte[] _buffer;
    private readonly int _end;
    private int _position;

    public KafkaReader(byte[] buffer) : this(buffer, 0, buffer.Length) { }

    public KafkaReader(byte[] buffer, int offset, int count)
    {
        if ((uint)offset > (uint)buffer.Length || (uint)count > (uint)(buffer.Length - offset))
            throw new ArgumentOutOfRangeException(nameof(count));
        _buffer = buffer;
        _position = offset;
        _end = offset + count;
    }

    public KafkaReader(ArraySegment<byte> segment) : this(segment.Array!, segment.Offset, segment.Count) { }

    /// <summary>When set, strings are decoded through this cache (the broker sets its own on every request).</summary>
    public Utf8StringCache? Strings { readonly get; init; }

    public readonly int Remaining => _end - _position;
    public readonly int Position => _position;
    public readonly bool IsAtEnd => _position == _end;

    private ReadOnlySpan<byte> Take(int count)
    {
        if (count < 0 || count > _end - _position)
            throw new ProtocolException($"truncated: need {count} bytes at {_position}, have {_end - _position}");
        var span = new ReadOnlySpan<byte>(_buffer, _position, count);
        _position += count;
        return span;
    }

    public sbyte ReadInt8() => (sbyte)Take(1)[0];
    public bool ReadBoolean() => Take(1)[0] != 0;
    public short ReadInt16() => BinaryPrimitives.ReadInt16BigEndian(Take(2));
    public ushort ReadUInt16() => BinaryPrimitives.ReadUInt16BigEndian(Take(2));
    public int ReadInt32() => BinaryPrimitives.ReadInt32BigEndian(Take(4));
    public uint ReadUInt32() => BinaryPrimitives.ReadUInt32BigEndian(Take(4));
    public long ReadInt64() => BinaryPrimitives.ReadInt64BigEndian(Take(8));
    public double ReadFloat64() => BinaryPrimitives.ReadDoubleBigEndian(Take(8));
    public Guid ReadUuid() => new(Take(16), bigEndian: true);

    public uint ReadUnsignedVarInt()
    {
        uint value = 0;
        for (int shift = 0; shift < 35; shift += 7)
        {
            byte b = Take(1)[0];
            value |= (uint)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                if (shift == 28 && b > 0x0F) throw new ProtocolException("unsigned varint overflows 32 bits");
                return value;
            }
        }
        throw new ProtocolException("unsigned varint longer than 5 bytes");
    }

    public ulong ReadUnsignedVarLong()
    {
        ulong value = 0;
        for (int shift = 0; shift < 70; shift += 7)
        {
            byte b = Take(1)[0];
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                if (shift == 63 && b > 0x01) throw new ProtocolException("unsigned varlong overflows 64 bits");
                return value;
            }
        }
        throw new ProtocolException("unsigned varlong longer than 10 bytes");
    }

    public int ReadVarInt()
    {
        uint raw = ReadUnsignedVarInt();
        return (int)(raw >> 1) ^ -(int)(raw & 1);
    }

    public long ReadVarLong()
    {
        ulong raw = ReadUnsignedVarLong();
        return (long)(raw >> 1) ^ -(long)(raw & 1);
    }

    /// <summary>Length of a nullable string/bytes/array: -1 means null. Compact forms store length+1 as an
    /// unsigned varint (0 = null).</summary>
    private int ReadLength(bool compact, bool int32Length)
    {
        if (compact)
        {
            uint raw = ReadUnsignedVarInt();
            if (raw == 0) return -1;
            // A 5-byte varint can exceed int.MaxValue: reject it here rather than let an overflow escape.
            if (raw - 1 > int.MaxValue) throw new ProtocolException($"compact length {raw - 1} exceeds int32");
            return (int)(raw - 1);
        }
        return int32Length ? ReadInt32() : ReadInt16();
    }

    public string? ReadNullableString(bool compact)
    {
        int length = ReadLength(compact, int32Length: false);
        if (length < -1) throw new ProtocolException($"negative string length {length}");
        if (length == -1) return null;
        var bytes = Take(length);
        return Strings is { } cache ? cache.GetOrAdd(bytes) : Encoding.UTF8.GetString(bytes);
    }

    public string ReadString(bool compact)
        => ReadNullableString(compact) ?? throw new ProtocolException("null in a non-nullable string");

    /// <summary>Reads nullable bytes as a slice of the underlying buffer (no copy).</summary>
    public ReadOnlyMemory<byte>? ReadNullableBytes(bool compact)
    {
        int length = ReadLength(compact, int32Length: true);
        if (length < -1) throw new ProtocolException($"negative bytes length {length}");
        if (length == -1) return null;
        int start = _position;
        Take(length);
        return new ReadOnlyMemory<byte>(_buffer, start, length);
    }

    public ReadOnlyMemory<byte> ReadBytes(bool compact)
        => ReadNullableBytes(compact) ?? throw new ProtocolException("null in non-nullable bytes");

    /// <summary>Array length, -1 for a null array. Bounded by <see cref="ArrayLengthMax"/> and by the bytes
    /// left (every element takes at least one byte), so a hostile length cannot force a huge allocation.</summary>
    public int ReadArrayLength(bool compact)
    {
        int length = ReadLength(compact, int32Length: true);
        if (length < -1) throw new ProtocolException($"negative array length {length}");
        if (length > ArrayLengthMax || length > Remaining)
            throw new ProtocolException($"array length {length} exceeds what the frame can hold");
        return length;
    }

    /// <summary>A non-nullable array's length (null is read as empty, as Kafka's own decoders do).</summary>
    public int ReadArrayCount(bool compact) => Math.Max(0, ReadArrayLength(compact));

    /// <summary>Skips the tagged-field section of a flexible-version struct (we define no tagged fields we keep).</summary>
    public void SkipTaggedFields()
    {
        uint count = ReadUnsignedVarInt();
        if (count > ArrayLengthMax) throw new ProtocolException("too many tagged fields");
        uint previousTag = 0;
        for (uint i = 0; i < count; i++)
        {
            uint tag = ReadUnsignedVarInt();
            if (i > 0 && tag <= previousTag) throw new ProtocolException("tagged fields out of order");
            previousTag = tag;
            uint size = ReadUnsignedVarInt();
            if (size > (uint)Remaining) throw new ProtocolException($"tagged field {tag} of {size} bytes overruns the frame");
            Take((int)size);
        }
    }

    /// <summary>The number of tagged fields in a flexible struct's tagged section, bounded by the bytes left
    /// (every field takes at least two).</summary>
    public int ReadTaggedFieldCount()
    {
        uint count = ReadUnsignedVarInt();
        if (count > ArrayLengthMax || count > (uint)Remaining) throw new ProtocolException($"{count} tagged fields cannot fit in {Remaining} bytes");
        return (int)count;
    }

    /// <summary>The tag and size of tagged field number <paramref name="index"/>; tags must rise strictly and the
    /// value must fit in the frame.</summary>
    public uint ReadTaggedFieldHeader(int index, ref uint previousTag, out int size)
    {
        uint tag = ReadUnsignedVarInt();
        if (index > 0 && tag <= previousTag) throw new ProtocolException("tagged fields out of order");
        previousTag = tag;
        uint length = ReadUnsignedVarInt();
        if (length > (uint)Remaining) throw new ProtocolException($"tagged field {tag} of {length} bytes overruns the frame");
        size = (int)length;
        return tag;
    }

    /// <summary>Reads a tagged section whose tags this codec does not know, keeping them (as slices) in
    /// <paramref name="into"/>, which is cleared first. Allocates only when there are fields to keep.</summary>
    public List<RawTaggedField>? ReadTaggedFields(List<RawTaggedField>? into)
    {
        // Nearly every section is empty (one zero byte): the hot paths take only this branch.
        if (_position < _end && _buffer[_position] == 0)
        {
            _position++;
            into?.Clear();
            return into;
        }
        int count = ReadTaggedFieldCount();
        into?.Clear();
        uint previousTag = 0;
        for (int i = 0; i < count; i++)
        {
            uint tag = ReadTaggedFieldHeader(i, ref previousTag, out int size);
            (into ??= new List<RawTaggedField>()).Add(new RawTaggedField(tag, ReadRaw(size)));
        }
        return into;
    }

    /// <summary>The next <paramref name="count"/> bytes as a slice (no copy).</summary>
    public ReadOnlyMemory<byte> ReadRaw(int count)
    {
        int start = _position;
        Take(count);
        return new ReadOnlyMemory<byte>(_buffer, start, count);
    }

    /// <summary>Reads the remaining bytes as a slice (no copy).</summary>
    public ReadOnlyMemory<byte> ReadRemaining()
    {
        int start = _position;
        _position = _end;
        return new ReadOnlyMemory<byte>(_buffer, start, _end - start);
    }

    public void Skip(int count) => Take(count);
}
