using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using DetKafka.Core.Util;

namespace DetKafka.Core.Protocol;

/// <summary>
/// Writes Kafka protocol primitives into a growable buffer rented from the shared array pool. One writer is
/// reused per response; <see cref="Reset"/> keeps its buffer, so steady-state encoding allocates nothing.
/// </summary>
public sealed class KafkaWriter : IDisposable
{
    private byte[] _buffer;
    private int _position;

    public KafkaWriter(int initialCapacity = 256)
    {
        _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(16, initialCapacity));
    }

    public int Position => _position;
    public ReadOnlySpan<byte> WrittenSpan => new(_buffer, 0, _position);
    public ReadOnlyMemory<byte> WrittenMemory => new(_buffer, 0, _position);
    public byte[] ToArray() => WrittenSpan.ToArray();

    public void Reset() => _position = 0;

    public void Dispose()
    {
        var b = _buffer;
        _buffer = Array.Empty<byte>();
        _position = 0;
        if (b.Length > 0) ArrayPool<byte>.Shared.Return(b);
    }

    /// <summary>Space for <paramref name="count"/> more bytes; advance with <see cref="Advance"/>.</summary>
    public Span<byte> GetSpan(int count)
    {
        Ensure(count);
        return new Span<byte>(_buffer, _position, count);
    }

    public void Advance(int count) => _position += count;

    private void Ensure(int count)
    {
        if (_buffer.Length - _position >= count) return;
        int size = Math.Max(checked(_position + count), checked(_buffer.Length * 2));
        var next = ArrayPool<byte>.Shared.Rent(size);
        Buffer.BlockCopy(_buffer, 0, next, 0, _position);
        if (_buffer.Length > 0) ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = next;
    }

    public void WriteInt8(sbyte value) { Ensure(1); _buffer[_position++] = (byte)value; }
    public void WriteBoolean(bool value) { Ensure(1); _buffer[_position++] = value ? (byte)1 : (byte)0; }
    public void WriteInt16(short value) { BinaryPrimitives.WriteInt16BigEndian(GetSpan(2), value); _position += 2; }
    public void WriteUInt16(ushort value) { BinaryPrimitives.WriteUInt16BigEndian(GetSpan(2), value); _position += 2; }
    public void WriteInt32(int value) { BinaryPrimitives.WriteInt32BigEndian(GetSpan(4), value); _position += 4; }
    public void WriteUInt32(uint value) { BinaryPrimitives.WriteUInt32BigEndian(GetSpan(4), value); _position += 4; }
    public void WriteInt64(long value) { BinaryPrimitives.WriteInt64BigEndian(GetSpan(8), value); _position += 8; }
    public void WriteFloat64(double value) { BinaryPrimitives.WriteDoubleBigEndian(GetSpan(8), value); _position += 8; }

    public void WriteUuid(Guid value)
    {
        if (!value.TryWriteBytes(GetSpan(16), bigEndian: true, out _)) throw new InvalidOperationException();
        _position += 16;
    }

    public void WriteUnsignedVarInt(uint value)
    {
        Ensure(5);
        while (value >= 0x80)
        {
            _buffer[_position++] = (byte)(value | 0x80);
            value >>= 7;
        }
        _buffer[_position++] = (byte)value;
    }

    public void WriteUnsignedVarLong(ulong value)
    {
        Ensure(10);
        while (value >= 0x80)
        {
            _buffer[_position++] = (byte)(value | 0x80);
            value >>= 7;
        }
        _buffer[_position++] = (byte)value;
    }

    public void WriteVarInt(int value) => WriteUnsignedVarInt((uint)((value << 1) ^ (value >> 31)));
    public void WriteVarLong(long value) => WriteUnsignedVarLong((ulong)((value << 1) ^ (value >> 63)));

    private void WriteLength(int length, bool compact, bool int32Length)
    {
        if (compact) WriteUnsignedVarInt((uint)(length + 1));
        else if (int32Length) WriteInt32(length);
        else WriteInt16(checked((short)length));
    }

    public void WriteNullableString(string? value, bool compact)
    {
        if (value is null) { WriteLength(-1, compact, int32Length: false); return; }
        int byteCount = Encoding.UTF8.GetByteCount(value);
        WriteLength(byteCount, compact, int32Length: false);
        Encoding.UTF8.GetBytes(value, GetSpan(byteCount));
        _position += byteCount;
    }

    public void WriteString(string value, bool compact)
    {
        ArgumentNullException.ThrowIfNull(value);
        WriteNullableString(value, compact);
    }

    public void WriteNullableBytes(ReadOnlySpan<byte> value, bool isNull, bool compact)
    {
        if (isNull) { WriteLength(-1, compact, int32Length: true); return; }
        WriteLength(value.Length, compact, int32Length: true);
        WriteRaw(value);
    }

    public void WriteNullableBytes(ReadOnlyMemory<byte>? value, bool compact)
        => WriteNullableBytes(value.HasValue ? value.Value.Span : default, !value.HasValue, compact);

    public void WriteBytes(ReadOnlySpan<byte> value, bool compact) => WriteNullableBytes(value, isNull: false, compact);

    /// <summary>Writes the length of a bytes field of <paramref name="length"/> bytes and returns the space for
    /// its content, already counted as written: the caller must fill all of it before the writer is read.</summary>
    public Span<byte> WriteBytesInPlace(int length, bool compact)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        WriteLength(length, compact, int32Length: true);
        var space = GetSpan(length);
        _position += length;
        return space;
    }

    /// <summary>Array length; -1 writes a null array.</summary>
    public void WriteArrayLength(int count, bool compact) => WriteLength(count, compact, int32Length: true);

    /// <summary>An empty tagged-field section (we emit no tagged fields).</summary>
    public void WriteEmptyTaggedFields() => WriteUnsignedVarInt(0);

    /// <summary>A tagged section of only the fields this codec does not know (an empty one when null).</summary>
    public void WriteTaggedFields(List<RawTaggedField>? fields)
    {
        if (fields is null || fields.Count == 0)
        {
            WriteUnsignedVarInt(0);
            return;
        }
        WriteUnsignedVarInt((uint)fields.Count);
        WriteTaggedFieldsBelow(fields, 0, uint.MaxValue);
    }

    /// <summary>Writes the unknown tagged fields from <paramref name="index"/> on whose tag is below
    /// <paramref name="tag"/> (they are kept in tag order); returns the index of the first one not written.
    /// Generated codecs interleave them with the known tagged fields this way, so tags stay in order.</summary>
    public int WriteTaggedFieldsBelow(List<RawTaggedField>? fields, int index, uint tag)
    {
        if (fields is null) return index;
        for (; index < fields.Count && fields[index].Tag < tag; index++)
        {
            WriteUnsignedVarInt(fields[index].Tag);
            WriteUnsignedVarInt((uint)fields[index].Data.Length);
            WriteRaw(fields[index].Data.Span);
        }
        return index;
    }

    /// <summary>Inserts, at <paramref name="start"/>, the unsigned-varint length of what was written since: the
    /// size prefix of a tagged field's value, known only once the value is written.</summary>
    public void PrefixLength(int start)
    {
        Check.That(start >= 0 && start <= _position, "a length prefix goes before what was written");
        int length = _position - start;
        int prefix = 1;
        for (uint v = (uint)length; v >= 0x80; v >>= 7) prefix++;
        Ensure(prefix);
        _buffer.AsSpan(start, length).CopyTo(_buffer.AsSpan(start + prefix));
        int at = start;
        uint value = (uint)length;
        for (; value >= 0x80; value >>= 7) _buffer[at++] = (byte)(value | 0x80);
        _buffer[at++] = (byte)value;
        Check.That(at == start + prefix, "the length prefix takes the bytes counted for it");
        _position += prefix;
    }

    public void WriteRaw(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(GetSpan(bytes.Length));
        _position += bytes.Length;
    }

    /// <summary>Reserve a big-endian int32 to patch later (frame sizes, lengths).</summary>
    public int ReserveInt32()
    {
        int at = _position;
        WriteInt32(0);
        return at;
    }

    public void PatchInt32(int at, int value) => BinaryPrimitives.WriteInt32BigEndian(_buffer.AsSpan(at, 4), value);
}
