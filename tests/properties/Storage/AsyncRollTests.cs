using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Storage;
using DetKafka.Sim;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace DetKafka.Properties.Storage;

/// <summary>
/// Issue 16 item 5: a segment roll requests the closing segment's syncs and does not wait (STORAGE.md, "Segment
/// roll"). The flushed offset, so a strict log's high watermark and its acknowledgements, stays at or below the
/// closing segment's end until all three of its syncs completed, whatever order completions arrive in; a failed
/// one takes the log offline; a crash before they complete loses nothing acknowledged and leaves no hole.
/// </summary>
public sealed class AsyncRollTests
{
    private static readonly LogConfig Config = StorageKit.Tiny(segmentBytes: 200, indexInterval: 0);

    /// <summary>Appends one-record batches until the log has rolled once, syncing nothing.</summary>
    private static (StorageKit Kit, UnifiedLog Log, long ClosedEnd) RolledOnce()
    {
        var kit = new StorageKit();
        var log = kit.Open(Config);
        for (int i = 0; log.Segments.Count < 2; i++)
        {
            Assert.True(i < 100);
            Assert.Equal(ErrorCode.None, log.Append(StorageKit.Batch(100 + i, $"v{i}"), 0).Error);
        }
        long closedEnd = log.Segments[0].NextOffset;
        Assert.Equal(closedEnd, log.ActiveSegment.BaseOffset);
        Assert.Equal(1, log.ClosingSegmentCount);
        Assert.True(kit.Disk.FileExists(StorageKit.Dir + "/" + LogSegment.FileStem(0) + UnifiedLog.ClosingSuffix),
            "the closing marker exists before the next segment");
        return (kit, log, closedEnd);
    }

    [Fact]
    public void The_roll_does_not_wait_and_acknowledgements_wait_for_the_rolled_segments_syncs()
    {
        var (kit, log, closedEnd) = RolledOnce();
        // The roll itself made nothing durable: the closing segment's data is still only in the cache.
        Assert.Empty(kit.Disk.ReadDurable(StorageKit.Dir + "/" + LogSegment.FileStem(0) + ".log"));
        Assert.True(kit.Disk.PendingSyncCount >= 3);
        var more = log.Append(StorageKit.Batch(500, "after-roll"), 0);
        Assert.True(log.MaybeStartSync(0));

        // Every requested sync completes on the disk; the log hears the active segment's completion first.
        var done = kit.Disk.CompletePendingSyncs();
        long activeToken = done[^1].Token;
        Assert.True(log.OnSyncCompleted(activeToken, DiskStatus.Ok));
        Assert.True(log.FlushedOffset <= closedEnd, $"flushed {log.FlushedOffset} passed the closing end {closedEnd}");
        Assert.False(log.IsCommitted(more.LastOffset), "an append after the roll is not acknowledged before the roll's sync");
        Assert.False(log.MaybeStartSync(0), "the active segment's writes are covered already");

        // The closing segment's three syncs, in reverse order: only the last one moves the flushed offset.
        var closing = done.Take(done.Count - 1).Reverse().ToList();
        for (int i = 0; i < closing.Count; i++)
        {
            Assert.True(log.OnSyncCompleted(closing[i].Token, closing[i].Status));
            if (log.ClosingSegmentCount > 0) Assert.True(log.FlushedOffset <= closedEnd);
        }
        Assert.Equal(0, log.ClosingSegmentCount);
        Assert.Equal(log.LogEndOffset, log.FlushedOffset);
        Assert.True(log.IsCommitted(more.LastOffset));
        Assert.False(kit.Disk.FileExists(StorageKit.Dir + "/" + LogSegment.FileStem(0) + UnifiedLog.ClosingSuffix));
        kit.AssertConsistent(log);
    }

    /// <summary>A replica's sync (<see cref="UnifiedLog.StartSyncForReplication"/>) of the segment after a roll,
    /// completing before the rolled segment's syncs: the flushed offset still waits for them (the replication path
    /// once kept a stale segment base, and the node stopped on "the flushed offset waits for the rolled segment's
    /// sync"; found by the chaos coordinator test).</summary>
    [Fact]
    public void A_replication_sync_after_a_roll_waits_for_the_rolled_segments_syncs()
    {
        var (kit, log, closedEnd) = RolledOnce();
        var more = log.Append(StorageKit.Batch(500, "after-roll"), 0);
        Assert.True(log.StartSyncForReplication(0));
        var done = kit.Disk.CompletePendingSyncs();
        Assert.True(log.OnSyncCompleted(done[^1].Token, DiskStatus.Ok));
        Assert.True(log.FlushedOffset <= closedEnd, $"flushed {log.FlushedOffset} passed the closing end {closedEnd}");
        Assert.False(log.IsCommitted(more.LastOffset));
        foreach (var (token, status) in done.Take(done.Count - 1)) Assert.True(log.OnSyncCompleted(token, status));
        Assert.Equal(log.LogEndOffset, log.FlushedOffset);
        kit.AssertConsistent(log);
    }

    [Fact]
    public void A_failed_sync_of_the_rolled_segment_takes_the_log_offline()
    {
        var (kit, log, closedEnd) = RolledOnce();
        string closedLog = StorageKit.Dir + "/" + LogSegment.FileStem(0) + ".log";
        kit.Disk.FaultHook = (op, path) => op == SimDiskOperation.SyncCompletion && path == closedLog ? DiskStatus.IoError : DiskStatus.Ok;
        log.Append(StorageKit.Batch(500, "after-roll"), 0);
        log.MaybeStartSync(0);
        kit.CompleteSyncs(log);
        Assert.Equal(ErrorCode.KafkaStorageError, log.Failure);
        Assert.True(log.FlushedOffset <= closedEnd);
        Assert.True(log.HighWatermark <= closedEnd);
        Assert.Equal(ErrorCode.KafkaStorageError, log.Append(StorageKit.Batch(600, "refused"), 0).Error);
    }

    /// <summary>Random appends over tiny segments, syncs started at random, completions delivered a few at a time
    /// (oldest first on the disk, sometimes handed to the log newest first), random crashes keeping torn tails:
    /// every acknowledged record survives at its offset, and the log is always a gapless prefix of what was written.</summary>
    [Fact]
    public void Crashes_before_the_rolls_syncs_complete_lose_nothing_acknowledged_and_leave_no_hole()
    {
        var gen = from seed in Gen.Choose(0, int.MaxValue)
                  from segmentBytes in Gen.Elements(300, 700, 2000)
                  select (seed, segmentBytes);
        Prop.ForAll(Arb.From(gen), t =>
        {
            var random = new SeededRandom((ulong)t.seed);
            var config = StorageKit.Tiny(t.segmentBytes, 60);
            var kit = new StorageKit();
            var written = new List<string>();
            int acknowledged = 0;
            for (int round = 0; round < 4; round++)
            {
                var log = kit.Open(config);
                kit.AssertConsistent(log);
                var read = StorageKit.ReadAll(log).Select(StorageKit.Text).ToList();
                Assert.True(read.Count >= acknowledged, $"lost acknowledged records: {read.Count} < {acknowledged}");
                Assert.Equal(written.Take(read.Count), read);
                Assert.Equal(log.LogEndOffset, read.Count);
                written = read;
                acknowledged = read.Count;
                int appends = random.NextInt(1, 25);
                for (int i = 0; i < appends; i++)
                {
                    var values = Enumerable.Range(0, random.NextInt(1, 3)).Select(j => $"r{round}-{i}-{j}-{new string('p', random.NextInt(0, 50))}").ToArray();
                    Assert.Equal(ErrorCode.None, log.Append(StorageKit.Batch(random.NextInt(0, 10_000), values), 0).Error);
                    written.AddRange(values);
                    if (random.NextBool(0.5)) log.MaybeStartSync(0);
                    if (random.NextBool(0.5))
                    {
                        var done = kit.Disk.CompletePendingSyncs(random.NextInt(1, 5));
                        if (random.NextBool(0.5)) done.Reverse();
                        foreach (var (token, status) in done)
                        {
                            Assert.True(log.OnSyncCompleted(token, status));
                            log.MaybeStartSync(0);
                        }
                        Assert.True(log.HighWatermark >= acknowledged);
                        acknowledged = (int)log.HighWatermark;
                    }
                }
                kit.Disk.Crash(random);
            }
        }).QuickCheckThrowOnFailure();
    }
}
