using System.Buffers.Binary;
using DetKafka.Core.Protocol;
using DetKafka.Core.Records.Compression;

namespace DetKafka.Core.Records;

/// <summary>Limits for <see cref="RecordBatchValidator"/>. The produce path and log recovery differ only here.</summary>
public readonly record struct RecordValidationOptions(int MaxBatchBytes, bool AllowControlBatches, int MaxUncompressedBytes)
{
    /// <summary>How many times max.message.bytes a compressed batch may inflate to. Text-like records compress 5-20
    /// fold; 64 leaves room for very repetitive data while a bomb (zstd reaches ratios of thousands) is cut off.</summary>
    public const int InflationRatioMax = 64;

    /// <summary>Floor of the decompression bound, so a topic with a tiny max.message.bytes still reads normal batches.</summary>
    public const int MinUncompressedBytes = 1024 * 1024;

    /// <summary>Ceiling of the decompression bound: the most one batch can make the broker hold in memory.</summary>
    public const int MaxUncompressedBytesCeiling = 256 * 1024 * 1024;

    /// <summary>The decompression bound under Kafka's default max.message.bytes (1048588): 64 MiB.</summary>
    public static int DefaultMaxUncompressedBytes => UncompressedLimitFor(1048588);

    /// <summary>The most a batch of at most <paramref name="maxMessageBytes"/> compressed bytes may inflate to:
    /// <see cref="InflationRatioMax"/> times it, within [<see cref="MinUncompressedBytes"/>,
    /// <see cref="MaxUncompressedBytesCeiling"/>].</summary>
    public static int UncompressedLimitFor(int maxMessageBytes)
        => (int)Math.Clamp((long)Math.Max(0, maxMessageBytes) * InflationRatioMax, MinUncompressedBytes, MaxUncompressedBytesCeiling);

    /// <summary>A client's produce: batches above max.message.bytes are refused, control batches are the
    /// transaction coordinator's alone, and a compressed batch may inflate to
    /// <see cref="UncompressedLimitFor"/>(max.message.bytes).</summary>
    public static RecordValidationOptions ForProduce(int maxMessageBytes)
        => new(maxMessageBytes, AllowControlBatches: false, UncompressedLimitFor(maxMessageBytes));

    /// <summary>Re-reading our own log (and a client reading fetched batches): the config may have shrunk since the
    /// batch was written, so the only size bounds are the file itself and the decompression ceiling; and the
    /// cleaner's batches may have gaps in their offset deltas.</summary>
    public static RecordValidationOptions ForRecovery()
        => new(int.MaxValue, AllowControlBatches: true, MaxUncompressedBytesCeiling) { AllowOffsetGaps = true };

    /// <summary>Batches rewritten by log compaction keep their base and last offsets and drop records between
    /// them (Kafka's rule), so offset deltas only increase, up to the last offset delta. Never for produce.</summary>
    public bool AllowOffsetGaps { get; init; }

    /// <summary>Every record must have a key (a produce to a compacted topic: the cleaner could not keep a keyless
    /// record, so Kafka refuses it with INVALID_RECORD).</summary>
    public bool RequireKeys { get; init; }

    /// <summary>Test-only planted bug (BrokerConfig.TestOnlySkipBatchCrc): the CRC is not checked.</summary>
    public bool TestOnlySkipCrc { get; init; }
}

/// <summary>Outcome of validating the batch at the start of a span. <see cref="TotalSize"/> is meaningful only
/// when <see cref="Error"/> is <see cref="ErrorCode.None"/>.</summary>
public readonly record struct BatchValidation(
    ErrorCode Error, string? Message, int TotalSize, RecordBatchHeader Header, long MaxRecordTimestamp)
{
    public bool IsValid => Error == ErrorCode.None;
}

/// <summary>Outcome of validating a blob of batches (a produce's records field).</summary>
public readonly record struct RecordsValidation(
    ErrorCode Error, string? Message, int BatchCount, int RecordCount, int ValidBytes)
{
    public bool IsValid => Error == ErrorCode.None;
}

/// <summary>
/// The one validator for record batches, shared by the produce path and log recovery so that what the
/// broker accepts is exactly what recovery keeps. Structural damage (lengths, CRC, varints, counts) is
/// <see cref="ErrorCode.CorruptMessage"/>; well-formed batches that break Kafka's rules (offset deltas,
/// empty batches, control batches from a client) are <see cref="ErrorCode.InvalidRecord"/>. Never throws
/// on bad input; every loop is bounded by the bytes present.
/// </summary>
public static class RecordBatchValidator
{
    /// <summary>Bytes needed to read batchLength and magic, which legacy formats place at the same offsets.</summary>
    private const int PrefixThroughMagic = RecordBatch.MagicOffset + 1;

    /// <summary>Validates the batch starting at <paramref name="data"/>; bytes after it are ignored.</summary>
    public static BatchValidation ValidateBatch(ReadOnlySpan<byte> data, in RecordValidationOptions options)
        => ValidateBatch(data, options, sink: null);

    /// <summary>Validates every batch of a blob; the blob must end exactly at a batch boundary.</summary>
    public static RecordsValidation ValidateRecords(ReadOnlySpan<byte> records, in RecordValidationOptions options)
    {
        int position = 0, batches = 0, recordCount = 0;
        while (position < records.Length)
        {
            var batch = ValidateBatch(records[position..], options, sink: null);
            if (!batch.IsValid)
                return new RecordsValidation(batch.Error, $"batch {batches} at byte {position}: {batch.Message}",
                    batches, recordCount, position);
            position += batch.TotalSize;
            batches++;
            recordCount += batch.Header.RecordsCount;
        }
        return new RecordsValidation(ErrorCode.None, null, batches, recordCount, position);
    }

    internal static BatchValidation ValidateBatch(ReadOnlySpan<byte> data, in RecordValidationOptions options, List<DecodedRecord>? sink)
        => ValidateBatch(data, options, sink, inflated: null);

    /// <summary>
    /// Validates one batch. With <paramref name="inflated"/>, a compressed batch's decompressed records are left in
    /// it (reset first) for the caller to recompress; without, a buffer is borrowed and returned.
    /// </summary>
    internal static BatchValidation ValidateBatch(ReadOnlySpan<byte> data, in RecordValidationOptions options,
        List<DecodedRecord>? sink, PooledBuffer? inflated)
    {
        if (data.Length < PrefixThroughMagic)
            return Fail(ErrorCode.CorruptMessage, $"{data.Length} bytes cannot hold a batch header");
        int batchLength = BinaryPrimitives.ReadInt32BigEndian(data[RecordBatch.BatchLengthOffset..]);
        sbyte magic = (sbyte)data[RecordBatch.MagicOffset];
        if (magic != RecordBatch.CurrentMagic)
            return Fail(magic is 0 or 1 ? ErrorCode.UnsupportedForMessageFormat : ErrorCode.CorruptMessage,
                $"magic {magic}, only 2 is supported");
        if (batchLength < RecordBatch.BatchLengthMin)
            return Fail(ErrorCode.CorruptMessage, $"batch length {batchLength} below the header size");
        long total = (long)batchLength + RecordBatch.LogOverhead;
        if (total > data.Length)
            return Fail(ErrorCode.CorruptMessage, $"batch of {total} bytes runs past the {data.Length} present");
        if (total > options.MaxBatchBytes)
            return Fail(ErrorCode.MessageTooLarge, $"batch of {total} bytes exceeds {options.MaxBatchBytes}");

        var batch = data[..(int)total];
        RecordBatchHeader.TryRead(batch, out var header);
        uint crc = Crc32C.Compute(batch[RecordBatch.AttributesOffset..]);
        if (crc != header.Crc && !options.TestOnlySkipCrc)
            return Fail(ErrorCode.CorruptMessage, $"CRC {crc:x8} does not match the stored {header.Crc:x8}");

        var codec = header.Codec;
        if ((byte)codec > (byte)CompressionCodec.Zstd)
            return Fail(ErrorCode.CorruptMessage, $"unknown compression codec {(byte)codec}");
        if (header.IsControl && !options.AllowControlBatches)
            return Fail(ErrorCode.InvalidRecord, "clients may not write control batches");
        if (header.RecordsCount < 0)
            return Fail(ErrorCode.CorruptMessage, $"negative record count {header.RecordsCount}");
        if (header.RecordsCount == 0)
            return Fail(ErrorCode.InvalidRecord, "batch holds no records");
        if (options.AllowOffsetGaps ? header.LastOffsetDelta < header.RecordsCount - 1 : header.LastOffsetDelta != header.RecordsCount - 1)
            return Fail(ErrorCode.InvalidRecord,
                $"last offset delta {header.LastOffsetDelta} does not match {header.RecordsCount} records");

        var body = batch[RecordBatch.RecordsOffset..];
        ErrorCode error;
        string? message;
        long maxTimestamp;
        if (codec == CompressionCodec.None)
        {
            error = ParseRecords(body, header, options, sink, out maxTimestamp, out message);
        }
        else
        {
            // Every id up to Zstd has a codec (checked above).
            var decoder = CompressionCodecs.For(codec)!;
            var output = inflated ?? new PooledBuffer(InitialInflateCapacity(body.Length, options.MaxUncompressedBytes));
            try
            {
                output.Reset(options.MaxUncompressedBytes);
                maxTimestamp = RecordBatch.NoTimestamp;
                error = decoder.TryDecompress(body, output, out message)
                    ? ParseRecords(output.WrittenSpan, header, options, sink, out maxTimestamp, out message)
                    : ErrorCode.CorruptMessage;
            }
            finally
            {
                if (inflated is null) output.Dispose();
            }
        }
        if (error != ErrorCode.None) return Fail(error, message);
        return new BatchValidation(ErrorCode.None, null, (int)total, header, maxTimestamp);
    }

    private static BatchValidation Fail(ErrorCode error, string? message)
        => new(error, message, 0, default, RecordBatch.NoTimestamp);

    /// <summary>
    /// Walks exactly <c>header.RecordsCount</c> records that must fill <paramref name="data"/> exactly, record i
    /// carrying offset delta i. Computes the largest record timestamp (the batch's true max timestamp).
    /// </summary>
    private static ErrorCode ParseRecords(ReadOnlySpan<byte> data, in RecordBatchHeader header, in RecordValidationOptions options,
        List<DecodedRecord>? sink, out long maxTimestamp, out string? message)
    {
        int previousDelta = -1;
        maxTimestamp = RecordBatch.NoTimestamp;
        var reader = new SpanReader(data);
        for (int i = 0; i < header.RecordsCount; i++)
        {
            if (!reader.TryReadVarInt(out int length) || length < 0 || length > reader.Remaining)
            {
                message = $"record {i}: bad length";
                return ErrorCode.CorruptMessage;
            }
            var record = new SpanReader(reader.Take(length));
            if (!record.TryReadByte(out _)
                || !record.TryReadVarLong(out long timestampDelta)
                || !record.TryReadVarInt(out int offsetDelta)
                || !record.TryReadNullableBytes(out var key, out bool keyNull)
                || !record.TryReadNullableBytes(out var value, out bool valueNull)
                || !record.TryReadVarInt(out int headerCount)
                || headerCount < 0 || headerCount > record.Remaining)
            {
                message = $"record {i}: malformed fields";
                return ErrorCode.CorruptMessage;
            }
            List<RecordHeader>? headers = sink is null ? null : new List<RecordHeader>(headerCount);
            for (int h = 0; h < headerCount; h++)
            {
                if (!record.TryReadNullableBytes(out var headerKey, out bool headerKeyNull) || headerKeyNull
                    || !record.TryReadNullableBytes(out var headerValue, out bool headerValueNull))
                {
                    message = $"record {i}: malformed header {h}";
                    return ErrorCode.CorruptMessage;
                }
                headers?.Add(new RecordHeader(System.Text.Encoding.UTF8.GetString(headerKey),
                    headerValueNull ? null : headerValue.ToArray()));
            }
            if (record.Remaining != 0)
            {
                message = $"record {i}: {record.Remaining} bytes left over inside the record";
                return ErrorCode.CorruptMessage;
            }
            if (keyNull && options.RequireKeys)
            {
                message = $"compacted topic cannot accept a message without key (record {i})";
                return ErrorCode.InvalidRecord;
            }
            bool deltaOk = options.AllowOffsetGaps
                ? offsetDelta > previousDelta && offsetDelta <= header.LastOffsetDelta
                : offsetDelta == i;
            previousDelta = offsetDelta;
            if (!deltaOk)
            {
                message = $"record {i} has offset delta {offsetDelta}";
                return ErrorCode.InvalidRecord;
            }
            long timestamp = header.BaseTimestamp + timestampDelta;
            if (timestamp > maxTimestamp) maxTimestamp = timestamp;
            sink?.Add(new DecodedRecord(
                header.BaseOffset + offsetDelta,
                header.TimestampType == TimestampType.LogAppendTime ? header.MaxTimestamp : timestamp,
                keyNull ? null : key.ToArray(),
                valueNull ? null : value.ToArray(),
                headers!));
        }
        if (reader.Remaining != 0)
        {
            message = $"{reader.Remaining} bytes after the last of {header.RecordsCount} records";
            return ErrorCode.CorruptMessage;
        }
        message = null;
        return ErrorCode.None;
    }

    /// <summary>A first guess at the inflated size (text compresses about 4 fold), grown on demand up to the limit.</summary>
    private static int InitialInflateCapacity(int compressedLength, int limit)
        => (int)Math.Min(limit, Math.Max(256L, 4L * compressedLength));
}

/// <summary>Non-throwing reader of the varint-encoded record fields.</summary>
internal ref struct SpanReader
{
    private readonly ReadOnlySpan<byte> _data;
    private int _position;

    public SpanReader(ReadOnlySpan<byte> data)
    {
        _data = data;
        _position = 0;
    }

    public readonly int Remaining => _data.Length - _position;

    public ReadOnlySpan<byte> Take(int count)
    {
        var slice = _data.Slice(_position, count);
        _position += count;
        return slice;
    }

    public bool TryReadByte(out byte value)
    {
        if (_position >= _data.Length)
        {
            value = 0;
            return false;
        }
        value = _data[_position++];
        return true;
    }

    /// <summary>Zigzag varint of at most 5 bytes, as Kafka's ByteUtils.readVarint.</summary>
    public bool TryReadVarInt(out int value)
    {
        uint raw = 0;
        for (int shift = 0; shift < 35; shift += 7)
        {
            if (!TryReadByte(out byte b)) break;
            raw |= (uint)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                value = (int)(raw >> 1) ^ -(int)(raw & 1);
                return true;
            }
        }
        value = 0;
        return false;
    }

    /// <summary>Zigzag varlong of at most 10 bytes.</summary>
    public bool TryReadVarLong(out long value)
    {
        ulong raw = 0;
        for (int shift = 0; shift < 70; shift += 7)
        {
            if (!TryReadByte(out byte b)) break;
            raw |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                value = (long)(raw >> 1) ^ -(long)(raw & 1);
                return true;
            }
        }
        value = 0;
        return false;
    }

    /// <summary>Varint length then bytes; -1 is null, other negatives are malformed.</summary>
    public bool TryReadNullableBytes(out ReadOnlySpan<byte> bytes, out bool isNull)
    {
        bytes = default;
        isNull = false;
        if (!TryReadVarInt(out int length) || length < -1 || length > Remaining) return false;
        if (length == -1)
        {
            isNull = true;
            return true;
        }
        bytes = Take(length);
        return true;
    }
}
