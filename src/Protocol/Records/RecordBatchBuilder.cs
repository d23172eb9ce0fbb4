using System.Buffers.Binary;
using DetKafka.Core.Protocol;
using DetKafka.Core.Records.Compression;
using DetKafka.Core.Util;

namespace DetKafka.Core.Records;

/// <summary>A record header: a non-null UTF-8 key and nullable bytes.</summary>
public sealed record RecordHeader(string Key, byte[]? Value);

/// <summary>What a producer hands over: key, value, headers and a CreateTime timestamp.</summary>
public sealed record SimpleRecord(byte[]? Key, byte[]? Value, long Timestamp, IReadOnlyList<RecordHeader>? Headers = null);

/// <summary>A record read back from a batch, with its absolute offset and effective timestamp (the batch's
/// max timestamp under LogAppendTime).</summary>
public sealed record DecodedRecord(long Offset, long Timestamp, byte[]? Key, byte[]? Value, IReadOnlyList<RecordHeader> Headers);

/// <summary>
/// Builds v2 record batches the way Kafka's producer does: base timestamp = the first record's timestamp,
/// offset deltas 0..n-1, records compressed with any codec of
/// <see cref="CompressionCodecs"/>, CRC over attributes..end. Used by tests, the simulator's clients and benchmarks.
/// </summary>
public static class RecordBatchBuilder
{
    public static byte[] Build(
        IReadOnlyList<SimpleRecord> records,
        CompressionCodec codec = CompressionCodec.None,
        long baseOffset = 0,
        TimestampType timestampType = TimestampType.CreateTime,
        long producerId = -1,
        short producerEpoch = -1,
        int baseSequence = -1,
        bool isTransactional = false,
        bool isControl = false,
        int partitionLeaderEpoch = -1)
    {
        if (codec != CompressionCodec.None && CompressionCodecs.For(codec) is null)
            throw new ArgumentException($"codec {codec} is not supported", nameof(codec));

        long baseTimestamp = records.Count > 0 ? records[0].Timestamp : RecordBatch.NoTimestamp;
        long maxTimestamp = RecordBatch.NoTimestamp;
        using var body = new KafkaWriter(256);
        using var one = new KafkaWriter(64);
        for (int i = 0; i < records.Count; i++)
        {
            var r = records[i];
            maxTimestamp = Math.Max(maxTimestamp, r.Timestamp);
            one.Reset();
            one.WriteInt8(0);
            one.WriteVarLong(r.Timestamp - baseTimestamp);
            one.WriteVarInt(i);
            WriteVarBytes(one, r.Key);
            WriteVarBytes(one, r.Value);
            var headers = r.Headers ?? [];
            one.WriteVarInt(headers.Count);
            foreach (var h in headers)
            {
                WriteVarBytes(one, System.Text.Encoding.UTF8.GetBytes(h.Key));
                WriteVarBytes(one, h.Value);
            }
            body.WriteVarInt(one.Position);
            body.WriteRaw(one.WrittenSpan);
        }

        ReadOnlySpan<byte> payload = body.WrittenSpan;
        byte[]? compressed = null;
        if (codec != CompressionCodec.None)
        {
            compressed = CompressionCodecs.Compress(codec, payload);
            payload = compressed;
        }

        short attributes = (short)codec;
        if (timestampType == TimestampType.LogAppendTime) attributes |= RecordBatch.TimestampTypeFlag;
        if (isTransactional) attributes |= RecordBatch.TransactionalFlag;
        if (isControl) attributes |= RecordBatch.ControlFlag;

        var batch = new byte[RecordBatch.HeaderSize + payload.Length];
        var s = batch.AsSpan();
        BinaryPrimitives.WriteInt64BigEndian(s[RecordBatch.BaseOffsetOffset..], baseOffset);
        BinaryPrimitives.WriteInt32BigEndian(s[RecordBatch.BatchLengthOffset..], batch.Length - RecordBatch.LogOverhead);
        BinaryPrimitives.WriteInt32BigEndian(s[RecordBatch.PartitionLeaderEpochOffset..], partitionLeaderEpoch);
        s[RecordBatch.MagicOffset] = RecordBatch.CurrentMagic;
        BinaryPrimitives.WriteInt16BigEndian(s[RecordBatch.AttributesOffset..], attributes);
        BinaryPrimitives.WriteInt32BigEndian(s[RecordBatch.LastOffsetDeltaOffset..], records.Count - 1);
        BinaryPrimitives.WriteInt64BigEndian(s[RecordBatch.BaseTimestampOffset..], baseTimestamp);
        BinaryPrimitives.WriteInt64BigEndian(s[RecordBatch.MaxTimestampOffset..], maxTimestamp);
        BinaryPrimitives.WriteInt64BigEndian(s[RecordBatch.ProducerIdOffset..], producerId);
        BinaryPrimitives.WriteInt16BigEndian(s[RecordBatch.ProducerEpochOffset..], producerEpoch);
        BinaryPrimitives.WriteInt32BigEndian(s[RecordBatch.BaseSequenceOffset..], baseSequence);
        BinaryPrimitives.WriteInt32BigEndian(s[RecordBatch.RecordsCountOffset..], records.Count);
        payload.CopyTo(s[RecordBatch.RecordsOffset..]);
        RecordBatch.WriteCrc(s);
        return batch;
    }

    /// <summary>Convenience: one batch of value-only records with the given timestamps.</summary>
    public static byte[] Build(long timestamp, CompressionCodec codec, params byte[]?[] values)
    {
        var records = new SimpleRecord[values.Length];
        for (int i = 0; i < values.Length; i++) records[i] = new SimpleRecord(null, values[i], timestamp);
        return Build(records, codec);
    }

    private static void WriteVarBytes(KafkaWriter writer, byte[]? bytes)
    {
        if (bytes is null)
        {
            writer.WriteVarInt(-1);
            return;
        }
        writer.WriteVarInt(bytes.Length);
        writer.WriteRaw(bytes);
    }
}

/// <summary>Reads records back out of batches (consumers in the simulator, tests, OffsetForTimestamp).</summary>
public static class RecordBatchDecoder
{
    /// <summary>
    /// Validates and decodes every batch of <paramref name="records"/> into <paramref name="output"/>.
    /// A fetch response may end in a partial batch (Kafka's older readers cut at the byte limit): with
    /// <paramref name="allowPartialTrailingBatch"/> such a tail is skipped rather than reported.
    /// </summary>
    public static ErrorCode Decode(ReadOnlySpan<byte> records, List<DecodedRecord> output, bool allowPartialTrailingBatch = false)
    {
        var options = RecordValidationOptions.ForRecovery();
        int position = 0;
        while (position < records.Length)
        {
            var rest = records[position..];
            if (allowPartialTrailingBatch && IsPartial(rest)) break;
            int decoded = output.Count;
            var batch = RecordBatchValidator.ValidateBatch(rest, options, output);
            if (!batch.IsValid)
            {
                // Only whole valid batches reach the caller.
                output.RemoveRange(decoded, output.Count - decoded);
                return batch.Error;
            }
            Check.That(batch.TotalSize > 0);
            position += batch.TotalSize;
        }
        return ErrorCode.None;
    }

    private static bool IsPartial(ReadOnlySpan<byte> rest)
    {
        if (rest.Length < RecordBatch.LogOverhead) return true;
        long total = (long)BinaryPrimitives.ReadInt32BigEndian(rest[RecordBatch.BatchLengthOffset..]) + RecordBatch.LogOverhead;
        return total > rest.Length;
    }
}
