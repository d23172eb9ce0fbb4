using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Records;
using DetKafka.Core.Storage;
using DetKafka.Sim;
using FsCheck;
using FsCheck.Fluent;
using Xunit;
using FsCheckRunner = FsCheck.Check;

namespace DetKafka.Properties.Storage;

/// <summary>Log compaction: what the cleaner keeps, and that its swap survives a crash at every disk step.</summary>
public sealed class LogCleanerTests
{
    private static readonly TopicPartition Tp = new("t", 0);

    /// <summary>One keyed write: key index, value (null = tombstone).</summary>
    public sealed record Write(int Key, string? Value);

    private static LogConfig Compacted(long deleteRetentionMs) => LogConfig.Default with
    {
        SegmentBytes = 300,
        IndexIntervalBytes = 100,
        CleanupPolicy = "compact",
        MinCleanableDirtyRatio = 0,
        DeleteRetentionMs = deleteRetentionMs,
    };

    private static byte[] Key(int k) => System.Text.Encoding.UTF8.GetBytes("k" + k);

    private static readonly CompressionCodec[] Codecs =
        [CompressionCodec.None, CompressionCodec.Gzip, CompressionCodec.Snappy, CompressionCodec.Lz4, CompressionCodec.Zstd];

    /// <summary>Appends the writes (1-3 per batch, each batch in the next codec, timestamps 1000 apart) and syncs each.</summary>
    private static void AppendAll(IDisk disk, LogManager manager, UnifiedLog log, IReadOnlyList<Write> writes, int perBatch)
    {
        long ts = 1000;
        for (int i = 0; i < writes.Count; i += perBatch)
        {
            var batch = writes.Skip(i).Take(perBatch)
                .Select(w => new SimpleRecord(Key(w.Key), w.Value is null ? null : System.Text.Encoding.UTF8.GetBytes(w.Value), ts++))
                .ToList();
            // Every codec in turn: the cleaner opens and rebuilds batches of each with its own codec.
            var result = log.Append(RecordBatchBuilder.Build(batch, Codecs[i / perBatch % Codecs.Length]), ts);
            Assert.Equal(ErrorCode.None, result.Error);
            log.MaybeStartSync(0);
            foreach (var (token, status) in ((SimDisk)Unwrap(disk)).CompletePendingSyncs()) manager.OnSyncCompleted(token, status, 0);
        }
    }

    private static IDisk Unwrap(IDisk disk) => disk is CrashingDisk c ? c.Inner : disk;

    private static void CleanToCompletion(LogCleaner cleaner, LogManager manager, long nowMs)
    {
        for (int guard = 0; guard < 100_000; guard++)
            if (!cleaner.Step(manager, nowMs) && cleaner.Current is null) return;
        Assert.Fail("the cleaner never finished");
    }

    private static Gen<List<Write>> Writes() =>
        from count in Gen.Choose(1, 120)
        from keys in Gen.Choose(1, 12)
        from list in Gen.ListOf(
            from k in Gen.Choose(0, keys - 1)
            from tomb in Gen.Choose(0, 9)
            from v in Gen.Choose(0, 1_000_000)
            select new Write(k, tomb == 0 ? null : "v" + v), count)
        select list.ToList();

    [Fact]
    public void Compaction_keeps_exactly_the_latest_record_per_key_below_the_cleaned_point_with_offsets_unchanged()
    {
        var cases = from writes in Writes()
                    from perBatch in Gen.Choose(1, 3)
                    from mapEntries in Gen.Choose(1, 8)
                    from dropTombstones in Gen.Choose(0, 1)
                    select (writes, perBatch, mapEntries, dropTombstones);
        Prop.ForAll(cases.ToArbitrary(), c =>
            {
                var (writes, perBatch, mapEntries, dropTombstones) = c;
                var disk = new SimDisk();
                var manager = new LogManager(disk, "data", NullBrokerLog.Instance);
                long deleteRetention = dropTombstones == 1 ? 0 : long.MaxValue / 4;
                var log = manager.GetOrCreateLog(Tp, Compacted(deleteRetention), 0);
                AppendAll(disk, manager, log, writes, perBatch);
                var before = StorageKit.ReadAll(log, compacted: true);
                // A small map forces several passes; a small step bound many steps.
                var cleaner = new LogCleaner(new LogCleanerConfig { MaxMapEntries = mapEntries + 2, BytesPerStep = 150 }, NullBrokerLog.Instance);
                long now = 1_000_000;
                long cleanedTo = LogCleaner.FirstUncleanableOffset(log, now);
                CleanToCompletion(cleaner, manager, now);
                Assert.Equal(cleanedTo, log.CleanerCheckpoint);
                var after = StorageKit.ReadAll(log, compacted: true);
                AssertCompacted(before, after, cleanedTo, dropTombstones == 1);

                // The same after a restart (recovery reads the compacted segments back).
                manager.Dispose();
                var reopened = new LogManager(disk, "data", NullBrokerLog.Instance);
                reopened.LoadAll(_ => Compacted(deleteRetention), 0);
                var again = StorageKit.ReadAll(reopened.GetLog(Tp)!, compacted: true);
                Assert.Equal(Describe(after), Describe(again));
                reopened.Dispose();
            }).QuickCheckThrowOnFailure();
    }

    private static List<string> Describe(IEnumerable<DecodedRecord> records)
        => records.Select(r => $"{r.Offset}:{Hex(r.Key)}={Hex(r.Value)}@{r.Timestamp}").ToList();

    private static string Hex(byte[]? b) => b is null ? "null" : Convert.ToHexString(b);

    /// <summary>Below <paramref name="cleanedTo"/>: exactly each key's latest record (its tombstone gone when
    /// <paramref name="tombstonesGone"/>); at and above: everything; every survivor equal to the original at its offset.</summary>
    internal static void AssertCompacted(List<DecodedRecord> before, List<DecodedRecord> after, long cleanedTo, bool tombstonesGone)
    {
        var latest = new Dictionary<string, long>();
        foreach (var r in before.Where(r => r.Offset < cleanedTo)) latest[Hex(r.Key)] = r.Offset;
        var expected = before.Where(r => r.Offset >= cleanedTo
                                         || (latest[Hex(r.Key)] == r.Offset && !(tombstonesGone && r.Value is null)))
            .ToList();
        Assert.Equal(Describe(expected), Describe(after));
        for (int i = 1; i < after.Count; i++) Assert.True(after[i].Offset > after[i - 1].Offset, "offsets strictly increase");
    }

    [Fact]
    public void A_crash_at_every_disk_step_of_a_clean_recovers_the_old_set_or_the_new_one()
    {
        // Every disk step of every clean is a crash point: a few dozen logs keep this within seconds.
        FsCheckRunner.One(Config.QuickThrowOnFailure.WithMaxTest(25), Prop.ForAll(Writes().ToArbitrary(), (writes) =>
        {
            // The reference: the same writes cleaned without a crash.
            List<string> oldSet, newSet;
            {
                var disk = new SimDisk();
                var manager = new LogManager(disk, "data", NullBrokerLog.Instance);
                var log = manager.GetOrCreateLog(Tp, Compacted(0), 0);
                AppendAll(disk, manager, log, writes, 2);
                oldSet = Describe(StorageKit.ReadAll(log, compacted: true));
                CleanToCompletion(new LogCleaner(new LogCleanerConfig { BytesPerStep = 200, MaxMapEntries = 4 }, NullBrokerLog.Instance), manager, 1_000_000);
                newSet = Describe(StorageKit.ReadAll(log, compacted: true));
            }
            for (int crashAt = 1; crashAt < 10_000; crashAt++)
            {
                var sim = new SimDisk();
                var disk = new CrashingDisk(sim);
                var manager = new LogManager(disk, "data", NullBrokerLog.Instance);
                var log = manager.GetOrCreateLog(Tp, Compacted(0), 0);
                AppendAll(disk, manager, log, writes, 2);
                var cleaner = new LogCleaner(new LogCleanerConfig { BytesPerStep = 200, MaxMapEntries = 4 }, NullBrokerLog.Instance);
                disk.CrashAfter = crashAt;
                bool crashed = false;
                try
                {
                    CleanToCompletion(cleaner, manager, 1_000_000);
                }
                catch (PowerLoss)
                {
                    crashed = true;
                }
                disk.CrashAfter = -1;
                sim.Crash();
                var reopened = new LogManager(sim, "data", NullBrokerLog.Instance);
                reopened.LoadAll(_ => Compacted(0), 0);
                var seen = Describe(StorageKit.ReadAll(reopened.GetLog(Tp)!, compacted: true));
                // Several passes and groups swap one at a time, so a crash may fall between two swaps: what is
                // read back must be a state the clean passes through, i.e. the old set compacted by some prefix
                // of the swaps. Every such state holds every key's latest record and loses nothing above it.
                AssertBetween(oldSet, newSet, seen);
                if (!crashed)
                {
                    Assert.Equal(newSet, seen);
                    return;
                }
            }
            Assert.Fail("the clean never finished");
        }));
    }

    /// <summary>Every record of <paramref name="newSet"/> is in <paramref name="seen"/>, which is a subsequence of
    /// <paramref name="oldSet"/>: nothing lost that the finished clean keeps, nothing invented, no mix of bytes.</summary>
    private static void AssertBetween(List<string> oldSet, List<string> newSet, List<string> seen)
    {
        var seenSet = new HashSet<string>(seen);
        Assert.All(newSet, r => Assert.Contains(r, seenSet));
        int at = 0;
        foreach (var r in seen)
        {
            while (at < oldSet.Count && oldSet[at] != r) at++;
            Assert.True(at < oldSet.Count, $"{r} was never written");
            at++;
        }
    }

    [Theory]
    [InlineData(CompressionCodec.Gzip)]
    [InlineData(CompressionCodec.Snappy)]
    [InlineData(CompressionCodec.Lz4)]
    [InlineData(CompressionCodec.Zstd)]
    public void A_compressed_batch_that_loses_records_keeps_its_codec(CompressionCodec codec)
    {
        var disk = new SimDisk();
        var manager = new LogManager(disk, "data", NullBrokerLog.Instance);
        var log = manager.GetOrCreateLog(Tp, Compacted(long.MaxValue / 4) with { SegmentBytes = 600 }, 0);
        // Batches of 4 records over keys 0-3, written 12 times: only the last batch's records survive the clean.
        for (int round = 0; round < 12; round++)
        {
            var batch = Enumerable.Range(0, 4).Select(k => new SimpleRecord(Key(k == 3 && round % 2 == 0 ? 9 : k),
                System.Text.Encoding.UTF8.GetBytes($"r{round}-{new string('x', 40)}"), 1000 + round)).ToList();
            Assert.Equal(ErrorCode.None, log.Append(RecordBatchBuilder.Build(batch, codec), 1000 + round).Error);
            log.MaybeStartSync(0);
            foreach (var (token, status) in disk.CompletePendingSyncs()) manager.OnSyncCompleted(token, status, 0);
        }
        Assert.True(log.Segments.Count > 2);
        var cleaner = new LogCleaner(new LogCleanerConfig(), NullBrokerLog.Instance);
        CleanToCompletion(cleaner, manager, 1_000_000);
        int batches = 0;
        foreach (var segment in log.Segments.Take(log.Segments.Count - 1))
        {
            for (int position = 0; segment.TryReadHeader(position, out var header); position += (int)header.TotalSize)
            {
                Assert.Equal(codec, header.Codec);
                batches++;
            }
        }
        Assert.True(batches > 0);
        var records = StorageKit.ReadAll(log, compacted: true);
        // Below the cleaned point each key keeps one record; every value is still the one written.
        var cleaned = records.Where(r => r.Offset < log.CleanerCheckpoint).ToList();
        Assert.True(cleaned.Count > 0 && cleaned.Count < 4 * 12);
        Assert.All(cleaned.GroupBy(r => Hex(r.Key)), g => Assert.Single(g));
        Assert.All(records, r => Assert.StartsWith("r", System.Text.Encoding.UTF8.GetString(r.Value!)));
    }

    [Fact]
    public void An_idempotent_producers_newest_batch_survives_cleaning_so_its_state_survives_a_restart_without_snapshots()
    {
        var disk = new SimDisk();
        var manager = new LogManager(disk, "data", NullBrokerLog.Instance);
        var config = Compacted(long.MaxValue / 4) with { SegmentBytes = 600 };
        var log = manager.GetOrCreateLog(Tp, config, 0);
        // Producer 7 writes key 0 three times (sequences 0, 1, 2), then another producer buries it under newer values.
        for (int seq = 0; seq < 3; seq++)
        {
            var b = RecordBatchBuilder.Build([new SimpleRecord(Key(0), System.Text.Encoding.UTF8.GetBytes($"p7-{seq}"), 1000 + seq)],
                producerId: 7, producerEpoch: 0, baseSequence: seq);
            Assert.Equal(ErrorCode.None, log.Append(b, 1000).Error);
        }
        for (int i = 0; i < 30; i++)
            Assert.Equal(ErrorCode.None, log.Append(RecordBatchBuilder.Build([new SimpleRecord(Key(0), System.Text.Encoding.UTF8.GetBytes($"other-{i}-{new string('y', 30)}"), 2000 + i)]), 2000).Error);
        log.MaybeStartSync(0);
        foreach (var (token, status) in disk.CompletePendingSyncs()) manager.OnSyncCompleted(token, status, 0);
        CleanToCompletion(new LogCleaner(new LogCleanerConfig(), NullBrokerLog.Instance), manager, 1_000_000);
        var values = StorageKit.ReadAll(log, compacted: true).Select(r => System.Text.Encoding.UTF8.GetString(r.Value!)).ToList();
        Assert.DoesNotContain("p7-0", values); // older batches of the producer went
        Assert.Contains("p7-2", values);       // its newest batch stayed, though key 0 has newer values

        // Without snapshots, a restart rebuilds producer 7 from that batch: its retry of sequence 2 is a duplicate.
        manager.Dispose();
        foreach (var name in disk.List("data/t-0").Where(n => n.EndsWith(ProducerStateManager.SnapshotSuffix, StringComparison.Ordinal)))
            disk.DeleteFile("data/t-0/" + name);
        var reopened = new LogManager(disk, "data", NullBrokerLog.Instance);
        reopened.LoadAll(_ => config, 0);
        var again = reopened.GetLog(Tp)!;
        Assert.Equal(2, again.Producers.Describe(7)!.Value.LastSequence);
        long end = again.LogEndOffset;
        var retry = RecordBatchBuilder.Build([new SimpleRecord(Key(0), System.Text.Encoding.UTF8.GetBytes("p7-2"), 1002)], producerId: 7, producerEpoch: 0, baseSequence: 2);
        Assert.Equal(ErrorCode.None, again.Append(retry, 3000).Error);
        Assert.Equal(end, again.LogEndOffset);
        reopened.Dispose();
    }

    [Fact]
    public void The_cleaner_never_touches_the_active_segment_nor_records_younger_than_the_compaction_lag()
    {
        var disk = new SimDisk();
        var manager = new LogManager(disk, "data", NullBrokerLog.Instance);
        var config = Compacted(long.MaxValue / 4) with { MinCompactionLagMs = 5_000 };
        var log = manager.GetOrCreateLog(Tp, config, 0);
        var writes = Enumerable.Range(0, 60).Select(i => new Write(i % 3, "v" + i)).ToList();
        AppendAll(disk, manager, log, writes, 1); // timestamps 1000..1059
        var before = StorageKit.ReadAll(log, compacted: true);
        var cleaner = new LogCleaner(LogCleanerConfig.Default, NullBrokerLog.Instance);
        // At 6030 only records at or before 1030 are older than the lag.
        CleanToCompletion(cleaner, manager, 6_030);
        var after = StorageKit.ReadAll(log, compacted: true);
        Assert.True(log.CleanerCheckpoint > 0);
        Assert.All(before.Where(r => r.Timestamp > 1_030), r => Assert.Contains(after, a => a.Offset == r.Offset));
        Assert.All(before.Where(r => r.Offset >= log.ActiveSegment.BaseOffset), r => Assert.Contains(after, a => a.Offset == r.Offset));
        AssertCompacted(before, after, log.CleanerCheckpoint, tombstonesGone: false);
        Assert.True(after.Count < before.Count);
    }

    [Fact]
    public void Max_compaction_lag_forces_a_clean_the_dirty_ratio_would_not_allow()
    {
        var disk = new SimDisk();
        var manager = new LogManager(disk, "data", NullBrokerLog.Instance);
        var config = Compacted(long.MaxValue / 4);
        var log = manager.GetOrCreateLog(Tp, config, 0);
        var cleaner = new LogCleaner(LogCleanerConfig.Default, NullBrokerLog.Instance);
        AppendAll(disk, manager, log, Enumerable.Range(0, 40).Select(i => new Write(i % 2, "v" + i)).ToList(), 1);
        CleanToCompletion(cleaner, manager, 2_000);
        AppendAll(disk, manager, log, Enumerable.Range(0, 40).Select(i => new Write(i % 2, "w" + i)).ToList(), 1);
        long swaps = cleaner.Stats.Swaps;
        // Part of the log is clean now, so a ratio of 1 cannot be met: no clean.
        log.UpdateConfig(config with { MinCleanableDirtyRatio = 1, MaxCompactionLagMs = 1_000_000 });
        Assert.False(cleaner.Step(manager, 3_000));
        Assert.Equal(swaps, cleaner.Stats.Swaps);
        // Dirty records older than max.compaction.lag.ms: cleaned whatever the ratio.
        log.UpdateConfig(config with { MinCleanableDirtyRatio = 1, MaxCompactionLagMs = 10 });
        CleanToCompletion(cleaner, manager, 5_000);
        Assert.True(cleaner.Stats.Swaps > swaps);
    }

    [Fact]
    public void A_clean_is_abandoned_when_retention_deletes_a_segment_under_it_and_its_output_is_removed()
    {
        var disk = new SimDisk();
        var manager = new LogManager(disk, "data", NullBrokerLog.Instance);
        var config = Compacted(long.MaxValue / 4) with { CleanupPolicy = "compact,delete", RetentionMs = 100 };
        var log = manager.GetOrCreateLog(Tp, config, 0);
        AppendAll(disk, manager, log, Enumerable.Range(0, 60).Select(i => new Write(i % 5, "v" + i)).ToList(), 1);
        var cleaner = new LogCleaner(new LogCleanerConfig { BytesPerStep = 80 }, NullBrokerLog.Instance);
        // Into the rewrite, with a .cleaned output open.
        for (int i = 0; i < 1_000 && !disk.List("data/t-0").Any(n => n.EndsWith(LogCleaner.CleanedSuffix, StringComparison.Ordinal)); i++)
            cleaner.Step(manager, 1_000);
        Assert.NotNull(cleaner.Current);
        Assert.Contains(disk.List("data/t-0"), n => n.EndsWith(LogCleaner.CleanedSuffix, StringComparison.Ordinal));
        Assert.True(log.ApplyRetention(1_000_000) > 0);
        cleaner.Step(manager, 1_000);
        Assert.Equal(1, cleaner.Stats.Aborted);
        Assert.DoesNotContain(disk.List("data/t-0"), n => n.EndsWith(LogCleaner.CleanedSuffix, StringComparison.Ordinal));
    }

    [Fact]
    public void Produce_without_a_key_to_a_compacted_topic_is_INVALID_RECORD()
    {
        var kit = new StorageKit();
        var log = kit.Open(LogConfig.Default with { CleanupPolicy = "compact" });
        var keyless = log.Append(RecordBatchBuilder.Build(0, CompressionCodec.None, "v"u8.ToArray()), 0);
        Assert.Equal(ErrorCode.InvalidRecord, keyless.Error);
        Assert.Contains("without key", keyless.ErrorMessage);
        Assert.Equal(0, log.LogEndOffset);
        var keyed = log.Append(RecordBatchBuilder.Build([new SimpleRecord("k"u8.ToArray(), "v"u8.ToArray(), 0)]), 0);
        Assert.Equal(ErrorCode.None, keyed.Error);
    }

    [Fact]
    public void Retention_checkpoints_the_start_before_deleting_and_a_crash_never_brings_a_deleted_segment_back()
    {
        var kit = new StorageKit();
        var config = StorageKit.Tiny(segmentBytes: 150) with { RetentionMs = 1000 };
        var log = kit.Open(config);
        for (int i = 0; i < 6; i++) kit.AppendSynced(log, StorageKit.Batch(i * 1000, $"v{i}"));
        Assert.True(log.ApplyRetention(nowMs: 4500) > 0);
        long start = log.LogStartOffset;
        Assert.True(start > 0);
        Assert.Equal(0, kit.Disk.PendingDirectoryChanges);
        kit.Disk.Crash();
        var reopened = kit.Open(config);
        Assert.Equal(start, reopened.LogStartOffset);
        Assert.Equal(start, reopened.Segments[0].BaseOffset);
        Assert.Equal(ErrorCode.OffsetOutOfRange, reopened.Read(start - 1, 100, long.MaxValue).Error);
    }

    [Fact]
    public void Breaking_retention_on_purpose_deletes_below_the_bounds()
    {
        var kit = new StorageKit();
        var log = kit.Open(StorageKit.Tiny(segmentBytes: 150) with { RetentionMs = 1_000_000 });
        for (int i = 0; i < 6; i++) kit.AppendSynced(log, StorageKit.Batch(i * 1000, $"v{i}"));
        Assert.Equal(0, log.ApplyRetention(nowMs: 6000));
        UnifiedLog.BreakRetentionForTests = true;
        try
        {
            Assert.True(log.ApplyRetention(nowMs: 6000) > 0);
        }
        finally
        {
            UnifiedLog.BreakRetentionForTests = false;
        }
    }
}

public sealed class PowerLoss : Exception;

/// <summary>An <see cref="IDisk"/> that loses power (throws <see cref="PowerLoss"/>) at its N-th mutating
/// operation, so a test can crash between any two disk steps of an operation.</summary>
public sealed class CrashingDisk(SimDisk inner) : IDisk
{
    public SimDisk Inner { get; } = inner;
    public int CrashAfter { get; set; } = -1;
    private int _ops;

    private void Tick()
    {
        if (CrashAfter < 0) return;
        if (++_ops >= CrashAfter)
        {
            CrashAfter = -1;
            throw new PowerLoss();
        }
    }

    public bool FileExists(string path) => Inner.FileExists(path);
    public bool DirectoryExists(string path) => Inner.DirectoryExists(path);
    public void CreateDirectory(string path) { Tick(); Inner.CreateDirectory(path); }
    public IReadOnlyList<string> List(string directory) => Inner.List(directory);
    public IDiskFile Open(string path, bool create) { if (create && !Inner.FileExists(path)) Tick(); return new File(this, Inner.Open(path, create)); }
    public IDiskFile CreateDeferred(string path) { if (!Inner.FileExists(path)) Tick(); return new File(this, Inner.CreateDeferred(path)); }
    public void DeleteFile(string path) { Tick(); Inner.DeleteFile(path); }
    public void DeleteDirectory(string path) { Tick(); Inner.DeleteDirectory(path); }
    public void Rename(string from, string to) { Tick(); Inner.Rename(from, to); }
    public DiskStatus SyncDirectory(string path) { Tick(); return Inner.SyncDirectory(path); }

    private sealed class File(CrashingDisk disk, IDiskFile inner) : IDiskFile
    {
        public string Path => inner.Path;
        public long Length => inner.Length;
        public DiskStatus Write(long position, ReadOnlySpan<byte> data) { disk.Tick(); return inner.Write(position, data); }
        public int Read(long position, Span<byte> destination) => inner.Read(position, destination);
        public void Truncate(long length) { disk.Tick(); inner.Truncate(length); }
        public void RequestSync(long token) => inner.RequestSync(token);
        public void RequestRead(long position, int length, long token) => inner.RequestRead(position, length, token);
        public DiskStatus SyncNow() { disk.Tick(); return inner.SyncNow(); }
        public void Dispose() => inner.Dispose();
    }
}
