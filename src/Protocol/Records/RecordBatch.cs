using System.Buffers.Binary;
using DetKafka.Core.Util;

namespace DetKafka.Core.Records;

public enum CompressionCodec : byte { None = 0, Gzip = 1, Snappy = 2, Lz4 = 3, Zstd = 4 }

public enum TimestampType : byte { CreateTime = 0, LogAppendTime = 1 }

/// <summary>
/// Record batch v2 (magic 2) layout. Every multi-byte field is big-endian. The CRC covers the bytes from
/// <see cref="AttributesOffset"/> to the end of the batch, so <see cref="BaseOffsetOffset"/> and
/// <see cref="PartitionLeaderEpochOffset"/> can be rewritten by the leader without recomputing it.
/// </summary>
public static class RecordBatch
{
    public const int BaseOffsetOffset = 0;
    public const int BatchLengthOffset = 8;
    public const int PartitionLeaderEpochOffset = 12;
    public const int MagicOffset = 16;
    public const int CrcOffset = 17;
    public const int AttributesOffset = 21;
    public const int LastOffsetDeltaOffset = 23;
    public const int BaseTimestampOffset = 27;
    public const int MaxTimestampOffset = 35;
    public const int ProducerIdOffset = 43;
    public const int ProducerEpochOffset = 51;
    public const int BaseSequenceOffset = 53;
    public const int RecordsCountOffset = 57;
    public const int RecordsOffset = 61;

    /// <summary>Bytes of the header, records excluded.</summary>
    public const int HeaderSize = RecordsOffset;

    /// <summary>baseOffset + batchLength: the bytes not counted by batchLength.</summary>
    public const int LogOverhead = 12;

    /// <summary>Smallest legal batchLength: a header with no records.</summary>
    public const int BatchLengthMin = HeaderSize - LogOverhead;

    public const byte CurrentMagic = 2;

    public const short CodecMask = 0x07;
    public const short TimestampTypeFlag = 0x08;
    public const short TransactionalFlag = 0x10;
    public const short ControlFlag = 0x20;

    /// <summary>Kafka's NO_TIMESTAMP.</summary>
    public const long NoTimestamp = -1;

    /// <summary>Sets the offsets the leader assigns: only bytes outside the CRC change.</summary>
    public static void AssignOffset(Span<byte> batch, long baseOffset, int partitionLeaderEpoch)
    {
        Check.That(batch.Length >= HeaderSize);
        BinaryPrimitives.WriteInt64BigEndian(batch[BaseOffsetOffset..], baseOffset);
        BinaryPrimitives.WriteInt32BigEndian(batch[PartitionLeaderEpochOffset..], partitionLeaderEpoch);
    }

    /// <summary>
    /// Makes the batch's timestamp type and max timestamp what the log says they are, recomputing the CRC
    /// only when a byte changed. Record timestamps are untouched: under LogAppendTime readers take the
    /// batch's max timestamp for every record. Returns true when the batch was rewritten.
    /// </summary>
    public static bool SetMaxTimestamp(Span<byte> batch, TimestampType type, long maxTimestamp)
    {
        Check.That(batch.Length >= HeaderSize);
        short attributes = BinaryPrimitives.ReadInt16BigEndian(batch[AttributesOffset..]);
        short wanted = type == TimestampType.LogAppendTime
            ? (short)(attributes | TimestampTypeFlag)
            : (short)(attributes & ~TimestampTypeFlag);
        long current = BinaryPrimitives.ReadInt64BigEndian(batch[MaxTimestampOffset..]);
        if (wanted == attributes && current == maxTimestamp) return false;
        BinaryPrimitives.WriteInt16BigEndian(batch[AttributesOffset..], wanted);
        BinaryPrimitives.WriteInt64BigEndian(batch[MaxTimestampOffset..], maxTimestamp);
        WriteCrc(batch);
        return true;
    }

    /// <summary>Makes a rebuilt batch (header then its records, compressed with <paramref name="codec"/>) consistent:
    /// codec bits, batchLength and CRC.</summary>
    public static void SetCodec(Span<byte> batch, CompressionCodec codec)
    {
        Check.That(batch.Length >= HeaderSize);
        short attributes = BinaryPrimitives.ReadInt16BigEndian(batch[AttributesOffset..]);
        BinaryPrimitives.WriteInt16BigEndian(batch[AttributesOffset..], (short)((attributes & ~CodecMask) | (byte)codec));
        BinaryPrimitives.WriteInt32BigEndian(batch[BatchLengthOffset..], batch.Length - LogOverhead);
        WriteCrc(batch);
    }

    /// <summary>Recomputes the CRC of a whole batch (the span is exactly one batch).</summary>
    public static void WriteCrc(Span<byte> batch)
    {
        Check.That(batch.Length >= HeaderSize);
        BinaryPrimitives.WriteUInt32BigEndian(batch[CrcOffset..], Crc32C.Compute(batch[AttributesOffset..]));
    }
}

/// <summary>The fixed fields of a v2 batch header, read without validating anything beyond their presence.</summary>
public readonly struct RecordBatchHeader
{
    public long BaseOffset { get; }
    public int BatchLength { get; }
    public int PartitionLeaderEpoch { get; }
    public sbyte Magic { get; }
    public uint Crc { get; }
    public short Attributes { get; }
    public int LastOffsetDelta { get; }
    public long BaseTimestamp { get; }
    public long MaxTimestamp { get; }
    public long ProducerId { get; }
    public short ProducerEpoch { get; }
    public int BaseSequence { get; }
    public int RecordsCount { get; }

    private RecordBatchHeader(ReadOnlySpan<byte> b)
    {
        BaseOffset = BinaryPrimitives.ReadInt64BigEndian(b[RecordBatch.BaseOffsetOffset..]);
        BatchLength = BinaryPrimitives.ReadInt32BigEndian(b[RecordBatch.BatchLengthOffset..]);
        PartitionLeaderEpoch = BinaryPrimitives.ReadInt32BigEndian(b[RecordBatch.PartitionLeaderEpochOffset..]);
        Magic = (sbyte)b[RecordBatch.MagicOffset];
        Crc = BinaryPrimitives.ReadUInt32BigEndian(b[RecordBatch.CrcOffset..]);
        Attributes = BinaryPrimitives.ReadInt16BigEndian(b[RecordBatch.AttributesOffset..]);
        LastOffsetDelta = BinaryPrimitives.ReadInt32BigEndian(b[RecordBatch.LastOffsetDeltaOffset..]);
        BaseTimestamp = BinaryPrimitives.ReadInt64BigEndian(b[RecordBatch.BaseTimestampOffset..]);
        MaxTimestamp = BinaryPrimitives.ReadInt64BigEndian(b[RecordBatch.MaxTimestampOffset..]);
        ProducerId = BinaryPrimitives.ReadInt64BigEndian(b[RecordBatch.ProducerIdOffset..]);
        ProducerEpoch = BinaryPrimitives.ReadInt16BigEndian(b[RecordBatch.ProducerEpochOffset..]);
        BaseSequence = BinaryPrimitives.ReadInt32BigEndian(b[RecordBatch.BaseSequenceOffset..]);
        RecordsCount = BinaryPrimitives.ReadInt32BigEndian(b[RecordBatch.RecordsCountOffset..]);
    }

    /// <summary>Reads the header at the start of <paramref name="data"/>; false when fewer than
    /// <see cref="RecordBatch.HeaderSize"/> bytes are there.</summary>
    public static bool TryRead(ReadOnlySpan<byte> data, out RecordBatchHeader header)
    {
        if (data.Length < RecordBatch.HeaderSize)
        {
            header = default;
            return false;
        }
        header = new RecordBatchHeader(data);
        return true;
    }

    /// <summary>Bytes of the whole batch including the log overhead (as long: a hostile length may overflow int).</summary>
    public long TotalSize => (long)BatchLength + RecordBatch.LogOverhead;

    public long LastOffset => BaseOffset + LastOffsetDelta;
    public long NextOffset => LastOffset + 1;
    public CompressionCodec Codec => (CompressionCodec)(Attributes & RecordBatch.CodecMask);
    public TimestampType TimestampType =>
        (Attributes & RecordBatch.TimestampTypeFlag) != 0 ? TimestampType.LogAppendTime : TimestampType.CreateTime;
    public bool IsTransactional => (Attributes & RecordBatch.TransactionalFlag) != 0;
    public bool IsControl => (Attributes & RecordBatch.ControlFlag) != 0;
}
