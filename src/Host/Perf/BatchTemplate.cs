using System.Buffers.Binary;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Records;
using DetKafka.Core.Records.Compression;
using DetKafka.Core.Util;

namespace DetKafka.Host.Perf;

/// <summary>
/// The load generator's pre-built record batch: as many records of the configured key and value size as fit in
/// batch.size (at least one), built once. Every copy of it is reused for the whole run: before each send
/// <see cref="Prepare"/> cuts it to the first n records (a prefix of a batch whose offset deltas run 0..n-1 is
/// itself a batch once its header says so), stamps the current time and, for end-to-end runs, each record's
/// send time into the first 8 bytes of its value, and recomputes the CRC. Nothing else is written per send, except
/// under <c>--compression-type</c>: then the prepared records are compressed into the buffer's own output area each
/// time, as a real producer compresses each batch (the cost shows up on the client's side of the run).
/// </summary>
public sealed class BatchTemplate
{
    public const int StampBytes = 8;

    private readonly byte[] _template;
    private readonly int[] _ends;
    private readonly int[] _values;

    public BatchTemplate(int recordSize, int keySize, int batchSize, ulong seed, CompressionCodec compression = CompressionCodec.None)
    {
        Compression = compression;
        if (recordSize < 0 || keySize < 0) throw new ArgumentException("sizes must not be negative");
        Records = RecordsPerBatch(recordSize, keySize, batchSize);
        IRandom random = new SeededRandom(seed);
        // Kafka's perf tool sends one random payload of upper-case letters; so do we. Keys differ per record.
        var value = new byte[recordSize];
        for (int i = 0; i < value.Length; i++) value[i] = (byte)('A' + (int)random.NextBelow(26));
        var records = new SimpleRecord[Records];
        for (int i = 0; i < Records; i++)
        {
            byte[]? key = null;
            if (keySize > 0)
            {
                key = new byte[keySize];
                for (int j = 0; j < keySize; j++) key[j] = (byte)('0' + (i >> (4 * (j % 8)) & 0xF));
            }
            records[i] = new SimpleRecord(key, value, 0);
        }
        _template = RecordBatchBuilder.Build(records);
        _ends = new int[Records];
        _values = new int[Records];
        int at = RecordBatch.RecordsOffset;
        for (int i = 0; i < Records; i++)
        {
            Check.That(RecordScan.TryReadRecord(_template, ref at, out _, out int valueAt, out int valueLength), "the template parses");
            Check.That(valueLength == recordSize);
            _values[i] = valueAt;
            _ends[i] = at;
        }
        Check.That(at == _template.Length);
        RecordSize = recordSize;
        KeySize = keySize;
    }

    /// <summary>The codec batches are compressed with before they are handed over.</summary>
    public CompressionCodec Compression { get; }

    /// <summary>Records in a full batch.</summary>
    public int Records { get; }

    public int RecordSize { get; }
    public int KeySize { get; }

    /// <summary>Bytes of a full batch.</summary>
    public int FullBytes => _template.Length;

    /// <summary>Bytes of a batch of the first <paramref name="count"/> records.</summary>
    public int BytesOf(int count) => _ends[count - 1];

    /// <summary>A private copy to send from: the template, and under compression an output area for it.</summary>
    public BatchBuffer NewBuffer() => new((byte[])_template.Clone(),
        Compression == CompressionCodec.None ? null : new PooledBuffer(_template.Length));

    /// <summary>One in-flight batch's bytes: the uncompressed template copy it is prepared in and, under compression,
    /// where the compressed batch is built. Valid until its next <see cref="Prepare"/>.</summary>
    public sealed class BatchBuffer(byte[] plain, PooledBuffer? compressed)
    {
        public byte[] Plain { get; } = plain;
        public PooledBuffer? Compressed { get; } = compressed;
    }

    /// <summary>
    /// Makes <paramref name="buffer"/> (from <see cref="NewBuffer"/>) a valid batch of its first <paramref name="count"/>
    /// records with CreateTime <paramref name="wallClockMs"/>; with <paramref name="stamps"/>, record i's value starts
    /// with <c>firstStamp + i * stampInterval</c> (big-endian). Returns the batch to send.
    /// </summary>
    public ReadOnlyMemory<byte> Prepare(BatchBuffer buffer, int count, long wallClockMs, bool stamps, long firstStamp, double stampInterval)
    {
        Check.That(count >= 1 && count <= Records && buffer.Plain.Length == _template.Length);
        int length = _ends[count - 1];
        var s = buffer.Plain.AsSpan(0, length);
        BinaryPrimitives.WriteInt32BigEndian(s[RecordBatch.BatchLengthOffset..], length - RecordBatch.LogOverhead);
        BinaryPrimitives.WriteInt32BigEndian(s[RecordBatch.LastOffsetDeltaOffset..], count - 1);
        BinaryPrimitives.WriteInt32BigEndian(s[RecordBatch.RecordsCountOffset..], count);
        BinaryPrimitives.WriteInt64BigEndian(s[RecordBatch.BaseTimestampOffset..], wallClockMs);
        BinaryPrimitives.WriteInt64BigEndian(s[RecordBatch.MaxTimestampOffset..], wallClockMs);
        if (stamps)
        {
            Check.That(RecordSize >= StampBytes, "stamped records hold at least 8 bytes");
            for (int i = 0; i < count; i++)
                BinaryPrimitives.WriteInt64BigEndian(s[_values[i]..], firstStamp + (long)(i * stampInterval));
        }
        if (buffer.Compressed is not { } output)
        {
            RecordBatch.WriteCrc(s);
            return buffer.Plain.AsMemory(0, length);
        }
        output.Reset();
        output.Write(s[..RecordBatch.HeaderSize]);
        CompressionCodecs.For(Compression)!.Compress(s[RecordBatch.RecordsOffset..], output);
        RecordBatch.SetCodec(output.WrittenSpan, Compression);
        return output.WrittenMemory;
    }

    /// <summary>How many records fit in <paramref name="batchSize"/> bytes (at least one, as Kafka sends a record larger
    /// than batch.size alone).</summary>
    public static int RecordsPerBatch(int recordSize, int keySize, int batchSize)
    {
        long total = RecordBatch.HeaderSize;
        int n = 0;
        while (true)
        {
            long body = 1 + 1 + VarIntSize(n) + (keySize > 0 ? VarIntSize(keySize) + keySize : 1) + VarIntSize(recordSize) + recordSize + 1;
            long size = VarIntSize((int)body) + body;
            if (n > 0 && total + size > batchSize) return n;
            total += size;
            n++;
            if (n == 1_000_000) return n;
        }
    }

    private static int VarIntSize(int value)
    {
        uint v = (uint)((value << 1) ^ (value >> 31));
        int n = 1;
        while (v >= 0x80)
        {
            v >>= 7;
            n++;
        }
        return n;
    }
}

/// <summary>Walks the records of an uncompressed v2 batch without allocating (the consumer side of the load
/// generator: counting, bytes, end-to-end stamps).</summary>
public static class RecordScan
{
    /// <summary>
    /// Counts the records of <paramref name="batch"/> at or after offset <paramref name="position"/> and their key
    /// and value bytes; with <paramref name="endToEnd"/>, records <c>nowTicks - stamp</c> (in nanoseconds) for each,
    /// the stamp being the first 8 bytes of its value, and returns their sum and largest in <paramref name="latencySum"/>
    /// and <paramref name="latencyMax"/>. Control batches count nothing. A compressed batch is counted from its header
    /// (its compressed bytes stand for the records' size), except end to end, when it is decompressed to read the
    /// stamps. False if the batch does not parse.
    /// </summary>
    public static bool Scan(ReadOnlySpan<byte> batch, long position, LatencyHistogram? endToEnd, long nowTicks, out int records, out long bytes,
        out long latencySum, out long latencyMax)
    {
        records = 0;
        bytes = 0;
        latencySum = latencyMax = 0;
        if (batch.Length < RecordBatch.HeaderSize) return false;
        short attributes = BinaryPrimitives.ReadInt16BigEndian(batch[RecordBatch.AttributesOffset..]);
        if ((attributes & RecordBatch.ControlFlag) != 0) return true;
        long baseOffset = BinaryPrimitives.ReadInt64BigEndian(batch);
        int count = BinaryPrimitives.ReadInt32BigEndian(batch[RecordBatch.RecordsCountOffset..]);
        if ((attributes & RecordBatch.CodecMask) != 0 && endToEnd is not null)
        {
            var codec = CompressionCodecs.For((CompressionCodec)(attributes & RecordBatch.CodecMask));
            if (codec is null) return false;
            var inflated = t_inflated ??= new PooledBuffer(64 * 1024);
            inflated.Reset(RecordValidationOptions.MaxUncompressedBytesCeiling);
            if (!codec.TryDecompress(batch[RecordBatch.RecordsOffset..], inflated, out _)) return false;
            return ScanRecords(inflated.WrittenSpan, 0, baseOffset, count, position, endToEnd, nowTicks,
                ref records, ref bytes, ref latencySum, ref latencyMax);
        }
        if ((attributes & RecordBatch.CodecMask) != 0)
        {
            long last = baseOffset + BinaryPrimitives.ReadInt32BigEndian(batch[RecordBatch.LastOffsetDeltaOffset..]);
            records = (int)Math.Max(0, last - Math.Max(baseOffset, position) + 1);
            bytes = batch.Length;
            return true;
        }
        return ScanRecords(batch, RecordBatch.RecordsOffset, baseOffset, count, position, endToEnd, nowTicks,
            ref records, ref bytes, ref latencySum, ref latencyMax);
    }

    /// <summary>Where end-to-end scans decompress batches: one per consuming thread.</summary>
    [ThreadStatic] private static PooledBuffer? t_inflated;

    private static bool ScanRecords(ReadOnlySpan<byte> batch, int at, long baseOffset, int count, long position,
        LatencyHistogram? endToEnd, long nowTicks, ref int records, ref long bytes, ref long latencySum, ref long latencyMax)
    {
        for (int i = 0; i < count; i++)
        {
            int start = at;
            if (!TryReadRecord(batch, ref at, out int offsetDelta, out int valueAt, out int valueLength)) return false;
            if (baseOffset + offsetDelta < position) continue;
            records++;
            // Key and value bytes: the record minus its framing (length, attributes, deltas, the two lengths, headers).
            bytes += Math.Max(0, valueLength) + KeyLength(batch, start);
            if (endToEnd is not null && valueLength >= BatchTemplate.StampBytes)
            {
                long nanos = Math.Max(0, PerfClock.TicksToNanos(nowTicks - BinaryPrimitives.ReadInt64BigEndian(batch[valueAt..])));
                endToEnd.Record(nanos);
                latencySum += nanos;
                latencyMax = Math.Max(latencyMax, nanos);
            }
        }
        return true;
    }

    private static int KeyLength(ReadOnlySpan<byte> batch, int at)
    {
        ReadVarLong(batch, ref at, out _); // length
        at++; // attributes
        ReadVarLong(batch, ref at, out _); // timestamp delta
        ReadVarLong(batch, ref at, out _); // offset delta
        ReadVarLong(batch, ref at, out long keyLength);
        return (int)Math.Max(0, keyLength);
    }

    /// <summary>Reads the record at <paramref name="at"/> and moves past it.</summary>
    public static bool TryReadRecord(ReadOnlySpan<byte> batch, ref int at, out int offsetDelta, out int valueAt, out int valueLength)
    {
        offsetDelta = valueAt = valueLength = 0;
        if (!ReadVarLong(batch, ref at, out long length) || length < 0 || length > batch.Length - at) return false;
        int end = at + (int)length;
        var record = batch[..end];
        int p = at + 1; // attributes
        if (!ReadVarLong(record, ref p, out _)) return false; // timestamp delta
        if (!ReadVarLong(record, ref p, out long delta)) return false;
        if (!ReadVarLong(record, ref p, out long keyLength) || keyLength > end - p) return false;
        if (keyLength > 0) p += (int)keyLength;
        if (!ReadVarLong(record, ref p, out long vLength) || vLength > end - p) return false;
        offsetDelta = (int)delta;
        valueAt = p;
        valueLength = (int)vLength;
        at = end;
        return true;
    }

    private static bool ReadVarLong(ReadOnlySpan<byte> s, ref int at, out long value)
    {
        ulong raw = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (at >= s.Length)
            {
                value = 0;
                return false;
            }
            byte b = s[at++];
            raw |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                value = (long)(raw >> 1) ^ -(long)(raw & 1);
                return true;
            }
        }
        value = 0;
        return false;
    }
}

/// <summary>The load generator's high-resolution clock: <see cref="System.Diagnostics.Stopwatch"/> ticks.</summary>
public static class PerfClock
{
    private static readonly double NanosPerTick = 1e9 / System.Diagnostics.Stopwatch.Frequency;

    public static long Now => System.Diagnostics.Stopwatch.GetTimestamp();

    public static long TicksToNanos(long ticks)
        => System.Diagnostics.Stopwatch.Frequency == 1_000_000_000 ? ticks : (long)(ticks * NanosPerTick);

    public static long MillisToTicks(double ms) => (long)(ms * System.Diagnostics.Stopwatch.Frequency / 1000.0);
}
