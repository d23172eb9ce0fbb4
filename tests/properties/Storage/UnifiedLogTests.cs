using System.Buffers.Binary;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Records;
using DetKafka.Core.Storage;
using DetKafka.Properties.Records;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace DetKafka.Properties.Storage;

public class UnifiedLogTests
{
    private static Gen<LogConfig> TinyConfigs =>
        from segmentBytes in Gen.Elements(400, 600, 1500, 1 << 20)
        from interval in Gen.Elements(0, 100, 4096)
        from indexBytes in Gen.Elements(24, 120, 10 << 20)
        select StorageKit.Tiny(segmentBytes, interval) with { SegmentIndexBytes = indexBytes };

    [Fact]
    public void Appended_records_read_back_in_order_across_rolls_and_reopen()
    {
        var gen = from config in TinyConfigs
                  from batches in Gen.Choose(1, 25).SelectMany(n => Gen.ListOf(RecordGen.Batch(4), n))
                  select (config, batches);
        Prop.ForAll(Arb.From(gen), t =>
        {
            var kit = new StorageKit();
            var log = kit.Open(t.config);
            var expected = new List<SimpleRecord>();
            foreach (var (batch, records, _) in t.batches)
            {
                var result = log.Append(batch, 0);
                Assert.Equal(ErrorCode.None, result.Error);
                Assert.Equal(expected.Count, result.BaseOffset);
                Assert.Equal(expected.Count + records.Count - 1, result.LastOffset);
                Assert.Equal(-1, result.LogAppendTimeMs);
                expected.AddRange(records);
                log.MaybeStartSync(0);
                if (expected.Count % 3 == 0) kit.CompleteSyncs(log);
            }
            log.MaybeStartSync(0);
            kit.CompleteSyncs(log);
            log.MaybeStartSync(0);
            kit.CompleteSyncs(log);
            Assert.Equal(expected.Count, log.LogEndOffset);
            Assert.Equal(expected.Count, log.HighWatermark);
            if (t.config.SegmentBytes == 400 && t.batches.Count > 4) Assert.True(log.Segments.Count > 1);
            kit.AssertConsistent(log);
            Check(StorageKit.ReadAll(log));

            log.Dispose();
            var reopened = kit.Open(t.config);
            Assert.Equal(expected.Count, reopened.LogEndOffset);
            kit.AssertConsistent(reopened);
            Check(StorageKit.ReadAll(reopened));
            Check(StorageKit.ReadAll(reopened, maxBytes: 1));

            void Check(List<DecodedRecord> read)
            {
                Assert.Equal(expected.Count, read.Count);
                for (int i = 0; i < read.Count; i++)
                {
                    Assert.Equal(i, read[i].Offset);
                    Assert.True(RecordGen.SameContent(expected[i], read[i]));
                }
            }
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Reads_start_at_the_batch_holding_the_offset_and_respect_limits()
    {
        var kit = new StorageKit();
        var log = kit.Open(StorageKit.Tiny(segmentBytes: 250, indexInterval: 0));
        for (int i = 0; i < 12; i++) kit.AppendSynced(log, StorageKit.Batch(1000 + i, $"a{i}", $"b{i}", $"c{i}"));
        Assert.True(log.Segments.Count >= 3);
        Assert.Equal(36, log.LogEndOffset);
        for (long offset = 0; offset < 36; offset++)
        {
            // maxBytes 1: exactly the one batch holding the offset (KIP-74: never nothing).
            var read = log.Read(offset, 1, long.MaxValue);
            var records = new List<DecodedRecord>();
            Assert.Equal(ErrorCode.None, RecordBatchDecoder.Decode(read.Records.Span, records));
            Assert.Equal(offset / 3 * 3, records[0].Offset);
            Assert.Equal(3, records.Count);
            Assert.Equal(0, log.Read(offset, 1, long.MaxValue, minOneBatch: false).Records.Length);
            // A limit inside the log: nothing at or above it.
            long limit = (offset / 3 + 1) * 3;
            records.Clear();
            Assert.Equal(ErrorCode.None, RecordBatchDecoder.Decode(log.Read(offset, 1 << 20, limit).Records.Span, records));
            Assert.Equal(limit - 1, records[^1].Offset);
            Assert.Equal(0, log.Read(offset, 1 << 20, offset).Records.Length);
        }
        Assert.Equal(ErrorCode.None, log.Read(36, 100, long.MaxValue).Error);
        Assert.Equal(0, log.Read(36, 100, long.MaxValue).Records.Length);
        Assert.Equal(ErrorCode.OffsetOutOfRange, log.Read(37, 100, long.MaxValue).Error);
        Assert.Equal(ErrorCode.OffsetOutOfRange, log.Read(-1, 100, long.MaxValue).Error);
    }

    [Fact]
    public void Offset_for_timestamp_finds_the_first_record_at_or_after_it()
    {
        var gen = from config in TinyConfigs
                  from batches in Gen.Choose(1, 15).SelectMany(n => Gen.ListOf(RecordGen.Batch(4), n))
                  from targets in Gen.ListOf(Gen.Choose(-10, 100_010).Select(d => RecordGen.BaseTime + d), 10)
                  select (config, batches, targets);
        Prop.ForAll(Arb.From(gen), t =>
        {
            var kit = new StorageKit();
            var log = kit.Open(t.config);
            var all = new List<(long Offset, long Timestamp)>();
            foreach (var (batch, records, _) in t.batches)
            {
                var result = kit.AppendSynced(log, batch);
                for (int i = 0; i < records.Count; i++) all.Add((result.BaseOffset + i, records[i].Timestamp));
            }
            void CheckAll(UnifiedLog l)
            {
                foreach (var target in t.targets.Append(RecordGen.BaseTime).Append(long.MinValue).Append(long.MaxValue))
                {
                    var expected = all.FirstOrDefault(x => x.Timestamp >= target);
                    var found = l.OffsetForTimestamp(target);
                    if (expected == default) Assert.Null(found);
                    else Assert.Equal(new TimestampOffset(expected.Timestamp, expected.Offset), found);
                }
            }
            CheckAll(log);
            log.Dispose();
            CheckAll(kit.Open(t.config));
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void LogAppendTime_stamps_batches_with_the_append_time()
    {
        var kit = new StorageKit();
        var log = kit.Open(StorageKit.Tiny() with { MessageTimestampType = TimestampType.LogAppendTime });
        var batch = RecordBatchBuilder.Build([new SimpleRecord(null, [1], 5), new SimpleRecord(null, [2], 9)], CompressionCodec.Gzip);
        var first = kit.AppendSynced(log, batch, nowMs: 1000);
        Assert.Equal(1000, first.LogAppendTimeMs);
        kit.AppendSynced(log, batch, nowMs: 2000);
        var read = log.Read(0, 1 << 20, long.MaxValue).Records.ToArray();
        var v = RecordBatchValidator.ValidateBatch(read, RecordValidationOptions.ForRecovery());
        Assert.Equal(ErrorCode.None, v.Error);
        Assert.Equal((TimestampType.LogAppendTime, 1000L), (v.Header.TimestampType, v.Header.MaxTimestamp));
        Assert.Equal(new TimestampOffset(2000, 2), log.OffsetForTimestamp(1001));
        Assert.Equal(new TimestampOffset(1000, 0), log.OffsetForTimestamp(6));
        Assert.All(StorageKit.ReadAll(log), r => Assert.Equal(r.Offset < 2 ? 1000 : 2000, r.Timestamp));
    }

    [Fact]
    public void Gzip_batches_are_stored_as_they_came_apart_from_offset_and_epoch()
    {
        var kit = new StorageKit();
        var log = kit.Open(StorageKit.Tiny());
        kit.AppendSynced(log, StorageKit.Batch(5, "x"));
        var gz = RecordBatchBuilder.Build([new SimpleRecord([1], [2, 3], 7), new SimpleRecord(null, [4], 8)], CompressionCodec.Gzip);
        kit.AppendSynced(log, gz);
        var stored = log.Read(1, 1, long.MaxValue).Records.ToArray();
        Assert.Equal(gz.Length, stored.Length);
        Assert.Equal(1, BinaryPrimitives.ReadInt64BigEndian(stored));
        Assert.True(gz.AsSpan(RecordBatch.BatchLengthOffset, 4).SequenceEqual(stored.AsSpan(RecordBatch.BatchLengthOffset, 4)));
        Assert.True(gz.AsSpan(RecordBatch.MagicOffset).SequenceEqual(stored.AsSpan(RecordBatch.MagicOffset)));
    }

    [Fact]
    public void Compression_type_recompresses_appends_and_recovery_keeps_them()
    {
        var kit = new StorageKit();
        var config = StorageKit.Tiny(segmentBytes: 4096) with { CompressionType = "zstd" };
        var log = kit.Open(config);
        var records = Enumerable.Range(0, 20).Select(i => new SimpleRecord([(byte)i], System.Text.Encoding.UTF8.GetBytes($"value-{i}"), 100 + i)).ToList();
        foreach (var codec in new[] { CompressionCodec.None, CompressionCodec.Gzip, CompressionCodec.Snappy, CompressionCodec.Lz4, CompressionCodec.Zstd })
            kit.AppendSynced(log, RecordBatchBuilder.Build(records, codec));
        Assert.Equal(100, log.LogEndOffset);
        var bytes = log.Read(0, 1 << 20, long.MaxValue).Records.ToArray();
        int at = 0, batches = 0;
        while (at < bytes.Length)
        {
            Assert.True(RecordBatchHeader.TryRead(bytes.AsSpan(at), out var h));
            Assert.Equal(CompressionCodec.Zstd, h.Codec);
            at += (int)h.TotalSize;
            batches++;
        }
        Assert.Equal(5, batches);
        var expected = Enumerable.Range(0, 5).SelectMany(_ => records).ToList();
        void Check(UnifiedLog l)
        {
            var all = StorageKit.ReadAll(l);
            Assert.Equal(100, all.Count);
            Assert.All(all.Zip(expected), p => Assert.True(RecordGen.SameContent(p.Second, p.First)));
        }
        Check(log);
        log.Dispose();
        Check(kit.Open(config));
    }

    [Fact]
    public void A_batch_that_inflates_past_the_bound_is_corrupt_and_not_written()
    {
        var kit = new StorageKit();
        // max.message.bytes 1000: the decompression bound is its floor, 1 MiB.
        var log = kit.Open(StorageKit.Tiny(segmentBytes: 1 << 20) with { MaxMessageBytes = 1000 });
        kit.AppendSynced(log, StorageKit.Batch(5, "x"));
        long size = log.ActiveSegment.Size;
        var bomb = RecordBatchBuilder.Build([new SimpleRecord(null, new byte[2 * 1024 * 1024], 5)], CompressionCodec.Zstd);
        Assert.True(bomb.Length < 1000, $"{bomb.Length} bytes");
        var result = log.Append(bomb, 0);
        Assert.Equal(ErrorCode.CorruptMessage, result.Error);
        Assert.Contains("more than 1048576 bytes", result.ErrorMessage);
        Assert.Equal((1L, size), (log.LogEndOffset, log.ActiveSegment.Size));
        // Just under the bound is fine.
        var fits = RecordBatchBuilder.Build([new SimpleRecord(null, new byte[1000 * 1024], 5)], CompressionCodec.Zstd);
        Assert.Equal(ErrorCode.None, kit.AppendSynced(log, fits).Error);
        Assert.Equal(2, log.LogEndOffset);
    }

    [Fact]
    public void Invalid_appends_change_nothing()
    {
        var kit = new StorageKit();
        var log = kit.Open(StorageKit.Tiny() with { MaxMessageBytes = 200 });
        kit.AppendSynced(log, StorageKit.Batch(5, "x"));
        long size = log.ActiveSegment.Size;
        var corrupt = StorageKit.Batch(5, "y");
        corrupt[^1] ^= 0x10;
        Assert.Equal(ErrorCode.CorruptMessage, log.Append(corrupt, 0).Error);
        Assert.Equal(ErrorCode.MessageTooLarge, log.Append(StorageKit.Batch(5, new string('z', 300)), 0).Error);
        Assert.Equal(ErrorCode.RecordListTooLarge, log.Append(new byte[500], 0).Error);
        var control = RecordBatchBuilder.Build([new SimpleRecord([0, 0, 0, 0], [0], 5)], isControl: true);
        Assert.Equal(ErrorCode.InvalidRecord, log.Append(control, 0).Error);
        var empty = log.Append(ReadOnlyMemory<byte>.Empty, 0);
        Assert.Equal((ErrorCode.None, -1L), (empty.Error, empty.BaseOffset));
        Assert.Equal(1, log.LogEndOffset);
        Assert.Equal(size, log.ActiveSegment.Size);
        Assert.False(log.MaybeStartSync(0));
        kit.AssertConsistent(log);
    }

    [Fact]
    public void Segment_ms_rolls_by_the_first_batch_timestamp()
    {
        var kit = new StorageKit();
        var log = kit.Open(LogConfig.Default with { SegmentMs = 1000 });
        kit.AppendSynced(log, StorageKit.Batch(10_000, "a"));
        kit.AppendSynced(log, StorageKit.Batch(10_900, "b"));
        Assert.Single(log.Segments);
        kit.AppendSynced(log, StorageKit.Batch(11_001, "c"));
        Assert.Equal(2, log.Segments.Count);
        Assert.Equal(2, log.ActiveSegment.BaseOffset);
        // The rolled segment was synced whole when it stopped being active.
        Assert.Equal(kit.Disk.ReadVolatile(StorageKit.Dir + "/00000000000000000000.log"),
            kit.Disk.ReadDurable(StorageKit.Dir + "/00000000000000000000.log"));
    }

    [Fact]
    public void DeleteRecords_moves_the_start_durably_and_drops_whole_segments()
    {
        var kit = new StorageKit();
        var config = StorageKit.Tiny(segmentBytes: 200, indexInterval: 0);
        var log = kit.Open(config);
        for (int i = 0; i < 10; i++) kit.AppendSynced(log, StorageKit.Batch(100 + i, $"v{i}", $"w{i}"));
        int segments = log.Segments.Count;
        Assert.True(segments >= 4);
        Assert.Equal(ErrorCode.OffsetOutOfRange, log.DeleteRecordsBefore(21).Error);
        var (error, low) = log.DeleteRecordsBefore(7);
        Assert.Equal((ErrorCode.None, 7L), (error, low));
        Assert.True(log.Segments[0].BaseOffset <= 7 && log.Segments[0].NextOffset > 7);
        Assert.True(log.Segments.Count < segments);
        Assert.Equal(ErrorCode.OffsetOutOfRange, log.Read(6, 100, long.MaxValue).Error);
        Assert.Equal(Enumerable.Range(7, 13).Select(i => (long)i), StorageKit.ReadAll(log).Select(r => r.Offset));
        Assert.Equal(7, log.DeleteRecordsBefore(3).LowWatermark);
        Assert.Equal(new TimestampOffset(103, 7), log.OffsetForTimestamp(0));

        // Survives a crash: the checkpoint was synced before the segments went.
        kit.Disk.Crash();
        log = kit.Open(config);
        Assert.Equal(7, log.LogStartOffset);
        Assert.Equal(20, log.LogEndOffset);
        Assert.Equal(Enumerable.Range(7, 13).Select(i => (long)i), StorageKit.ReadAll(log).Select(r => r.Offset));

        // Deleting up to the end leaves the active segment, empty of readable records.
        Assert.Equal(20, log.DeleteRecordsBefore(-1).LowWatermark);
        Assert.Empty(StorageKit.ReadAll(log));
        Assert.Equal(20, kit.AppendSynced(log, StorageKit.Batch(1, "again")).BaseOffset);
        kit.AssertConsistent(log);
    }

    [Fact]
    public void Group_commit_one_sync_covers_every_write_before_it()
    {
        var kit = new StorageKit();
        var log = kit.Open(StorageKit.Tiny(segmentBytes: 1 << 20));
        for (int i = 0; i < 5; i++) Assert.Equal(ErrorCode.None, log.Append(StorageKit.Batch(1, $"m{i}"), 0).Error);
        Assert.Equal(0, log.HighWatermark);
        Assert.True(log.MaybeStartSync(0));
        Assert.False(log.MaybeStartSync(0));
        Assert.Equal(1, kit.Disk.PendingSyncCount);
        // Writes after the sync started wait for the next one.
        log.Append(StorageKit.Batch(1, "late1"), 0);
        log.Append(StorageKit.Batch(1, "late2"), 0);
        Assert.False(log.MaybeStartSync(0));
        Assert.Empty(StorageKit.ReadAll(log));
        kit.CompleteSyncs(log);
        Assert.Equal((5L, 5L, 7L), (log.FlushedOffset, log.HighWatermark, log.LogEndOffset));
        Assert.Equal(5, StorageKit.ReadAll(log).Count);
        Assert.True(log.MaybeStartSync(0));
        kit.CompleteSyncs(log);
        Assert.Equal((7L, 7L), (log.FlushedOffset, log.HighWatermark));
        Assert.False(log.MaybeStartSync(0));
        Assert.False(log.OnSyncCompleted(12345, DiskStatus.Ok));
    }

    [Fact]
    public void Relaxed_logs_ack_at_once_and_sync_by_count_or_time()
    {
        var kit = new StorageKit();
        var log = kit.Open(LogConfig.Default with { FlushMessages = 3, FlushMs = 1000 });
        Assert.True(log.Config.IsRelaxedDurability);
        log.Append(StorageKit.Batch(1, "a"), 0);
        Assert.Equal(1, log.HighWatermark);
        Assert.False(log.MaybeStartSync(10));
        Assert.Equal(1010, log.NextDeadlineMs);
        log.Append(StorageKit.Batch(1, "b", "c"), 0);
        Assert.True(log.MaybeStartSync(20));
        Assert.Equal(long.MaxValue, log.NextDeadlineMs);
        kit.CompleteSyncs(log);
        Assert.Equal(3, log.FlushedOffset);
        log.Append(StorageKit.Batch(1, "d"), 0);
        Assert.Equal(1020, log.NextDeadlineMs);
        Assert.False(log.MaybeStartSync(1019));
        Assert.True(log.MaybeStartSync(1020));
        kit.CompleteSyncs(log);
        Assert.Equal(4, log.FlushedOffset);

        // Turning strict never moves the high watermark back.
        log.Append(StorageKit.Batch(1, "e"), 0);
        log.UpdateConfig(LogConfig.Default);
        Assert.Equal(5, log.HighWatermark);
        log.Append(StorageKit.Batch(1, "f"), 0);
        Assert.Equal(5, log.HighWatermark);
    }

    [Fact]
    public void Storage_failures_are_reported_and_a_failed_sync_takes_the_log_offline()
    {
        var kit = new StorageKit();
        var log = kit.Open(StorageKit.Tiny(segmentBytes: 1 << 20));
        kit.AppendSynced(log, StorageKit.Batch(1, "a"));
        kit.Disk.CapacityBytes = kit.Disk.UsedBytes + 10;
        long size = log.ActiveSegment.Size;
        Assert.Equal(ErrorCode.KafkaStorageError, log.Append(StorageKit.Batch(1, "b"), 0).Error);
        Assert.Equal(size, log.ActiveSegment.LogFile.Length);
        Assert.Equal(ErrorCode.None, log.Failure);
        kit.Disk.CapacityBytes = long.MaxValue;
        log.Append(StorageKit.Batch(1, "c"), 0);
        Assert.True(log.MaybeStartSync(0));
        kit.Disk.FaultHook = (op, _) => op == DetKafka.Sim.SimDiskOperation.SyncCompletion ? DiskStatus.IoError : DiskStatus.Ok;
        kit.CompleteSyncs(log);
        Assert.Equal(ErrorCode.KafkaStorageError, log.Failure);
        Assert.Equal(1, log.FlushedOffset);
        Assert.Equal(ErrorCode.KafkaStorageError, log.Append(StorageKit.Batch(1, "d"), 0).Error);
        Assert.False(log.MaybeStartSync(0));
    }

    [Fact]
    public void Retention_deletes_old_segments_below_the_high_watermark()
    {
        var kit = new StorageKit();
        var log = kit.Open(StorageKit.Tiny(segmentBytes: 150) with { RetentionMs = 1000 });
        for (int i = 0; i < 6; i++) kit.AppendSynced(log, StorageKit.Batch(i * 1000, $"v{i}"));
        int before = log.Segments.Count;
        Assert.True(before >= 3);
        Assert.True(log.ApplyRetention(nowMs: 4500) > 0);
        Assert.All(log.Segments.SkipLast(1), s => Assert.True(4500 - s.LargestTimestamp <= 1000));
        Assert.Equal(log.Segments[0].BaseOffset, log.LogStartOffset);
        kit.AssertConsistent(log);
        Assert.Equal(log.LogStartOffset, StorageKit.ReadAll(log)[0].Offset);
        Assert.Equal(ErrorCode.OffsetOutOfRange, log.Read(log.LogStartOffset - 1, 100, long.MaxValue).Error);
        log.Dispose();

        // retention.bytes: keep the newest segments within the budget; the start follows after a restart too.
        var bySize = kit.Open(StorageKit.Tiny(segmentBytes: 150) with { RetentionBytes = 1 });
        for (int i = 6; i < 12; i++) kit.AppendSynced(bySize, StorageKit.Batch(i * 1000, $"v{i}"));
        Assert.True(bySize.Segments.Count >= 3);
        long start = bySize.LogStartOffset;
        Assert.True(bySize.ApplyRetention(nowMs: 0) > 0);
        Assert.Single(bySize.Segments);
        Assert.True(bySize.LogStartOffset > start);
        Assert.Equal(bySize.ActiveSegment.BaseOffset, bySize.LogStartOffset);
        bySize.Dispose();
        Assert.Equal(12, kit.Open(StorageKit.Tiny(segmentBytes: 150)).LogEndOffset);
        Assert.Equal(bySize.LogStartOffset, kit.Open(StorageKit.Tiny(segmentBytes: 150)).LogStartOffset);

        // compact-only topics keep everything.
        var compacted = kit.Open(StorageKit.Tiny(segmentBytes: 150) with { RetentionBytes = 0, CleanupPolicy = "compact" });
        Assert.Equal(0, compacted.ApplyRetention(long.MaxValue / 2));
    }

    [Fact]
    public void Max_timestamp_offset_names_the_first_record_with_the_largest_timestamp()
    {
        var kit = new StorageKit();
        var log = kit.Open(StorageKit.Tiny(segmentBytes: 300));
        kit.AppendSynced(log, StorageKit.Batch(50, "a"));
        kit.AppendSynced(log, RecordBatchBuilder.Build([new SimpleRecord(null, [1], 10), new SimpleRecord(null, [2], 90), new SimpleRecord(null, [3], 90)]));
        kit.AppendSynced(log, StorageKit.Batch(70, "b", "c"));
        Assert.Equal(new TimestampOffset(90, 2), log.MaxTimestampOffset());
        Assert.Null(log.MaxTimestampOffset(maxOffsetExclusive: 2));
        log.DeleteRecordsBefore(3);
        Assert.Equal(new TimestampOffset(90, 3), log.MaxTimestampOffset());
    }
}
