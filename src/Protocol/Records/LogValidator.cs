using DetKafka.Core.Protocol;
using DetKafka.Core.Records.Compression;
using DetKafka.Core.Util;

namespace DetKafka.Core.Records;

/// <summary>Where one batch of a prepared append sits and what it covers.</summary>
public readonly record struct AppendedBatch(int Position, int Size, long BaseOffset, long LastOffset, long MaxTimestamp);

/// <summary>
/// The leader's side of an append (Kafka's LogValidator): validate the producer's batches with
/// <see cref="RecordBatchValidator"/>, then copy them with offsets assigned. A batch whose codec is the topic's
/// target codec (always, under compression.type=producer) is stored as it came: offsets and timestamps live in the
/// header, so its compressed bytes are not touched. Any other batch is recompressed to the target codec (or stored
/// uncompressed), as Kafka's broker does, from the records its validation already decompressed.
/// </summary>
public static class LogValidator
{
    /// <summary>
    /// Validates <paramref name="records"/> and appends it to <paramref name="destination"/> (which the caller reset),
    /// giving batch i the offsets that follow batch i-1, starting at <paramref name="firstOffset"/>. With
    /// <paramref name="targetCodec"/> null (compression.type=producer) every batch keeps its bytes and codec; else a
    /// batch of another codec is rebuilt with that one, and then must still fit <see cref="RecordValidationOptions.MaxBatchBytes"/>.
    /// Under LogAppendTime every batch's max timestamp becomes <paramref name="nowMs"/>; under CreateTime it
    /// becomes the largest record timestamp, which an honest producer already wrote (then no byte changes).
    /// On error nothing in <paramref name="batches"/> is meaningful and the destination holds garbage.
    /// </summary>
    public static RecordsValidation ValidateAndAssignOffsets(
        ReadOnlySpan<byte> records,
        PooledBuffer destination,
        in RecordValidationOptions options,
        CompressionCodec? targetCodec,
        long firstOffset,
        int partitionLeaderEpoch,
        TimestampType timestampType,
        long nowMs,
        List<AppendedBatch> batches)
    {
        batches.Clear();
        int position = 0, recordCount = 0;
        long nextOffset = firstOffset;
        // Holds a compressed batch's records between validation and recompression; only needed when converting.
        PooledBuffer? inflated = null;
        try
        {
            while (position < records.Length)
            {
                if (targetCodec is not null) inflated ??= new PooledBuffer(0);
                var v = RecordBatchValidator.ValidateBatch(records[position..], options, sink: null, inflated);
                if (!v.IsValid)
                    return new RecordsValidation(v.Error, $"batch {batches.Count} at byte {position}: {v.Message}",
                        batches.Count, recordCount, position);
                var source = records.Slice(position, v.TotalSize);
                int start = destination.Length;
                // A control batch (a transaction marker) is never recompressed, as in Kafka: readers and the
                // partition's own marker check read it uncompressed, whatever the topic's compression.type.
                if (targetCodec is { } target && target != v.Header.Codec && !v.Header.IsControl)
                {
                    var body = v.Header.Codec == CompressionCodec.None ? source[RecordBatch.RecordsOffset..] : inflated!.WrittenSpan;
                    Recompress(source, body, target, destination);
                }
                else
                {
                    destination.Write(source);
                }
                int size = destination.Length - start;
                if (size > options.MaxBatchBytes)
                    return new RecordsValidation(ErrorCode.MessageTooLarge,
                        $"batch {batches.Count} at byte {position}: {size} bytes after recompression to "
                        + $"{CompressionCodecs.NameOf(targetCodec!.Value)} exceed {options.MaxBatchBytes}",
                        batches.Count, recordCount, position);
                var batch = destination.WrittenSpan.Slice(start, size);
                RecordBatch.AssignOffset(batch, nextOffset, partitionLeaderEpoch);
                long maxTimestamp = timestampType == TimestampType.LogAppendTime ? nowMs : v.MaxRecordTimestamp;
                RecordBatch.SetMaxTimestamp(batch, timestampType, maxTimestamp);
                long lastOffset = nextOffset + v.Header.LastOffsetDelta;
                batches.Add(new AppendedBatch(start, size, nextOffset, lastOffset, maxTimestamp));
                nextOffset = lastOffset + 1;
                position += v.TotalSize;
                recordCount += v.Header.RecordsCount;
            }
        }
        finally
        {
            inflated?.Dispose();
        }
        return new RecordsValidation(ErrorCode.None, null, batches.Count, recordCount, position);
    }

    /// <summary>The same with a fixed destination (at least as long as <paramref name="records"/>) and no recompression.</summary>
    public static RecordsValidation ValidateAndAssignOffsets(
        ReadOnlySpan<byte> records,
        Span<byte> destination,
        in RecordValidationOptions options,
        long firstOffset,
        int partitionLeaderEpoch,
        TimestampType timestampType,
        long nowMs,
        List<AppendedBatch> batches)
    {
        Check.That(destination.Length >= records.Length);
        using var buffer = new PooledBuffer(records.Length);
        var result = ValidateAndAssignOffsets(records, buffer, options, targetCodec: null, firstOffset, partitionLeaderEpoch,
            timestampType, nowMs, batches);
        if (result.IsValid)
        {
            Check.That(buffer.Length == records.Length);
            buffer.WrittenSpan.CopyTo(destination);
        }
        return result;
    }

    /// <summary>
    /// Appends <paramref name="source"/>'s header with <paramref name="records"/> (its records, uncompressed)
    /// compressed with <paramref name="target"/> (or not at all for None): same offsets deltas, timestamps, producer
    /// fields and flags, a new codec, length and CRC.
    /// </summary>
    internal static void Recompress(ReadOnlySpan<byte> source, ReadOnlySpan<byte> records, CompressionCodec target, PooledBuffer destination)
    {
        int start = destination.Length;
        destination.Write(source[..RecordBatch.HeaderSize]);
        if (target == CompressionCodec.None) destination.Write(records);
        else CompressionCodecs.For(target)!.Compress(records, destination);
        var batch = destination.WrittenSpan[start..];
        RecordBatch.SetCodec(batch, target);
    }
}
