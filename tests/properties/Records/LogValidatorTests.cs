using System.Buffers.Binary;
using DetKafka.Core.Protocol;
using DetKafka.Core.Records;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace DetKafka.Properties.Records;

public class LogValidatorTests
{
    private static readonly RecordValidationOptions Produce = RecordValidationOptions.ForProduce(1 << 20);

    private static (RecordsValidation, byte[], List<AppendedBatch>) Assign(byte[] blob, long firstOffset, TimestampType type, long now)
    {
        var output = new byte[blob.Length];
        var layout = new List<AppendedBatch>();
        var v = LogValidator.ValidateAndAssignOffsets(blob, output, Produce, firstOffset, 3, type, now, layout);
        return (v, output, layout);
    }

    [Fact]
    public void CreateTime_keeps_every_byte_but_the_offset_and_leader_epoch()
    {
        var arb = Arb.From(Gen.Choose(1, 3).SelectMany(n => Gen.ListOf(RecordGen.Batch(), n))
            .SelectMany(batches => Gen.Choose(0, 1_000_000).Select(first => (batches, first: (long)first))));
        Prop.ForAll(arb, t =>
        {
            var blob = t.batches.SelectMany(b => b.Batch).ToArray();
            var (v, output, layout) = Assign(blob, t.first, TimestampType.CreateTime, now: 42);
            Assert.Equal(ErrorCode.None, v.Error);
            long next = t.first;
            for (int i = 0; i < layout.Count; i++)
            {
                var l = layout[i];
                var original = blob.AsSpan(l.Position, l.Size);
                var stored = output.AsSpan(l.Position, l.Size);
                Assert.Equal(next, l.BaseOffset);
                Assert.Equal(next, BinaryPrimitives.ReadInt64BigEndian(stored));
                Assert.Equal(3, BinaryPrimitives.ReadInt32BigEndian(stored[RecordBatch.PartitionLeaderEpochOffset..]));
                Assert.True(original[RecordBatch.MagicOffset..].SequenceEqual(stored[RecordBatch.MagicOffset..]));
                Assert.True(original[RecordBatch.BatchLengthOffset..RecordBatch.PartitionLeaderEpochOffset]
                    .SequenceEqual(stored[RecordBatch.BatchLengthOffset..RecordBatch.PartitionLeaderEpochOffset]));
                Assert.Equal(t.batches[i].Records.Max(r => r.Timestamp), l.MaxTimestamp);
                next = l.LastOffset + 1;
            }
            Assert.Equal(t.first + t.batches.Sum(b => b.Records.Count), next);
            Assert.Equal(ErrorCode.None, RecordBatchValidator.ValidateRecords(output, Produce).Error);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void LogAppendTime_sets_the_flag_and_max_timestamp_with_a_valid_crc()
    {
        Prop.ForAll(Arb.From(RecordGen.Batch()), t =>
        {
            const long now = 1_800_000_000_000;
            var (v, output, layout) = Assign(t.Batch, 10, TimestampType.LogAppendTime, now);
            Assert.Equal(ErrorCode.None, v.Error);
            Assert.Equal(now, layout[0].MaxTimestamp);
            var check = RecordBatchValidator.ValidateBatch(output, Produce);
            Assert.Equal(ErrorCode.None, check.Error);
            Assert.Equal(TimestampType.LogAppendTime, check.Header.TimestampType);
            Assert.Equal(now, check.Header.MaxTimestamp);
            Assert.Equal(t.Codec, check.Header.Codec);
            // Compressed records are not touched: the body is stored as it came.
            Assert.True(t.Batch.AsSpan(RecordBatch.RecordsOffset).SequenceEqual(output.AsSpan(RecordBatch.RecordsOffset)));
            var decoded = new List<DecodedRecord>();
            Assert.Equal(ErrorCode.None, RecordBatchDecoder.Decode(output, decoded));
            Assert.All(decoded, r => Assert.Equal(now, r.Timestamp));
            Assert.Equal(Enumerable.Range(10, t.Records.Count).Select(i => (long)i), decoded.Select(r => r.Offset));
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void CreateTime_corrects_a_wrong_max_timestamp_and_the_log_append_time_flag()
    {
        var batch = RecordBatchBuilder.Build([new SimpleRecord(null, [1], 100), new SimpleRecord(null, [2], 300)]);
        BinaryPrimitives.WriteInt64BigEndian(batch.AsSpan(RecordBatch.MaxTimestampOffset), 200);
        BinaryPrimitives.WriteInt16BigEndian(batch.AsSpan(RecordBatch.AttributesOffset), RecordBatch.TimestampTypeFlag);
        RecordBatch.WriteCrc(batch);
        var (v, output, layout) = Assign(batch, 0, TimestampType.CreateTime, 5);
        Assert.Equal(ErrorCode.None, v.Error);
        Assert.Equal(300, layout[0].MaxTimestamp);
        var check = RecordBatchValidator.ValidateBatch(output, Produce);
        Assert.Equal(ErrorCode.None, check.Error);
        Assert.Equal((TimestampType.CreateTime, 300L), (check.Header.TimestampType, check.Header.MaxTimestamp));
    }

    [Fact]
    public void A_bad_batch_anywhere_fails_the_whole_append()
    {
        var good = RecordBatchBuilder.Build(5, CompressionCodec.None, [1], [2]);
        var bad = (byte[])good.Clone();
        bad[^1] ^= 1;
        var (v, _, _) = Assign([.. good, .. bad, .. good], 0, TimestampType.CreateTime, 5);
        Assert.Equal(ErrorCode.CorruptMessage, v.Error);
        Assert.Equal(1, v.BatchCount);
    }
}
