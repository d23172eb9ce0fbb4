using DetKafka.Core.Protocol;
using DetKafka.Core.Util;

namespace DetKafka.Core.Records;

/// <summary>Where one batch of a prepared append sits and what it covers.</summary>
public readonly record struct AppendedBatch(int Position, int Size, long BaseOffset, long LastOffset, long MaxTimestamp);

/// <summary>
/// The leader's side of an append (Kafka's LogValidator): validate the producer's batches with
/// <see cref="RecordBatchValidator"/>, then copy them with offsets assigned. Compressed batches are not
/// re-compressed: offsets and timestamps live in the header, so their bytes are stored as they came.
/// </summary>
public static class LogValidator
{
    /// <summary>
    /// Validates <paramref name="records"/> and copies it into <paramref name="destination"/> (at least as long)
    /// giving batch i the offsets that follow batch i-1, starting at <paramref name="firstOffset"/>.
    /// Under LogAppendTime every batch's max timestamp becomes <paramref name="nowMs"/>; under CreateTime it
    /// becomes the largest record timestamp, which an honest producer already wrote (then no byte changes).
    /// On error nothing in <paramref name="batches"/> is meaningful and the destination is garbage.
    /// </summary>
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
        batches.Clear();
        int position = 0, recordCount = 0;
        long nextOffset = firstOffset;
        while (position < records.Length)
        {
            var v = RecordBatchValidator.ValidateBatch(records[position..], options);
            if (!v.IsValid)
                return new RecordsValidation(v.Error, $"batch {batches.Count} at byte {position}: {v.Message}",
                    batches.Count, recordCount, position);
            var batch = destination.Slice(position, v.TotalSize);
            records.Slice(position, v.TotalSize).CopyTo(batch);
            RecordBatch.AssignOffset(batch, nextOffset, partitionLeaderEpoch);
            long maxTimestamp = timestampType == TimestampType.LogAppendTime ? nowMs : v.MaxRecordTimestamp;
            RecordBatch.SetMaxTimestamp(batch, timestampType, maxTimestamp);
            long lastOffset = nextOffset + v.Header.LastOffsetDelta;
            batches.Add(new AppendedBatch(position, v.TotalSize, nextOffset, lastOffset, maxTimestamp));
            nextOffset = lastOffset + 1;
            position += v.TotalSize;
            recordCount += v.Header.RecordsCount;
        }
        return new RecordsValidation(ErrorCode.None, null, batches.Count, recordCount, position);
    }
}
