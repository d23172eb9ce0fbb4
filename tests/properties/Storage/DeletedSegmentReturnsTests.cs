using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Storage;
using DetKafka.Sim;
using Xunit;

namespace DetKafka.Properties.Storage;

/// <summary>
/// Issue 16's "deleted segment returns" check (STORAGE.md, "Retention"): a segment deleted by DeleteRecords or
/// retention stays a directory entry until the directory is synced, so a crash before that sync brings it back
/// whole. Recovery must not serve it: the durable log-start checkpoint precedes every delete and recovery drops
/// segments wholly below it. Each test fails the post-delete directory sync (the crash window made wide), crashes,
/// checks that the segment really came back on disk, then recovers; the same run with the checkpoint skipped on
/// purpose (<see cref="LogConfig.TestOnlySkipLogStartCheckpoint"/>, DeleteRecords only) shows the check catches
/// the broken ordering.
/// </summary>
public sealed class DeletedSegmentReturnsTests
{
    private const string FirstSegment = StorageKit.Dir + "/00000000000000000000.log";

    /// <summary>What recovery served after the crash.</summary>
    private readonly record struct Outcome(bool SegmentCameBack, long LogStart, long FirstServed, ErrorCode ReadBelow);

    /// <summary>Ten acknowledged batches of two records (several tiny segments), then <paramref name="delete"/>
    /// with the directory sync after its deletes failing, a crash keeping only durable state, and recovery.</summary>
    private static Outcome Run(Func<UnifiedLog, long> delete, bool skipCheckpoint, out long deletedBelow)
    {
        var kit = new StorageKit();
        var config = StorageKit.Tiny(segmentBytes: 200, indexInterval: 0) with
        {
            RetentionMs = 1000,
            TestOnlySkipLogStartCheckpoint = skipCheckpoint,
        };
        var log = kit.Open(config);
        for (int i = 0; i < 10; i++) kit.AppendSynced(log, StorageKit.Batch(100 + i, $"v{i}", $"w{i}"));
        Assert.True(log.Segments.Count >= 4);

        // The directory sync that would make the deletes durable fails (the first segment is gone by then):
        // as a crash right before it, the deletes stay pending.
        kit.Disk.FaultHook = (op, path) =>
            op == SimDiskOperation.SyncNow && path == StorageKit.Dir && !kit.Disk.FileExists(FirstSegment)
                ? DiskStatus.IoError : DiskStatus.Ok;
        deletedBelow = delete(log);
        Assert.False(kit.Disk.FileExists(FirstSegment));
        Assert.True(kit.Disk.PendingDirectoryChanges > 0, "the deletes are not durable yet");
        Assert.Equal(ErrorCode.KafkaStorageError, log.Failure);

        kit.Disk.FaultHook = null;
        kit.Disk.Crash();
        bool cameBack = kit.Disk.FileExists(FirstSegment);
        log = kit.Open(config);
        kit.AssertConsistent(log);
        var records = StorageKit.ReadAll(log);
        Assert.Equal(20, log.LogEndOffset);
        Assert.Equal(Enumerable.Range((int)log.LogStartOffset, 20 - (int)log.LogStartOffset).Select(i => (long)i),
            records.Select(r => r.Offset));
        var below = log.LogStartOffset > 0 ? log.Read(log.LogStartOffset - 1, 100, long.MaxValue).Error : ErrorCode.None;
        return new Outcome(cameBack, log.LogStartOffset, records.Count > 0 ? records[0].Offset : -1, below);
    }

    [Fact]
    public void A_segment_deleted_by_DeleteRecords_comes_back_after_a_crash_and_is_never_served()
    {
        var outcome = Run(log =>
        {
            var (error, low) = log.DeleteRecordsBefore(7);
            Assert.Equal((ErrorCode.None, 7L), (error, low));
            return low;
        }, skipCheckpoint: false, out long deleted);
        Assert.True(outcome.SegmentCameBack, "the delete was not durable, so the crash brought the segment back");
        Assert.True(outcome.LogStart >= deleted, $"log start {outcome.LogStart} below the acknowledged {deleted}");
        Assert.Equal(deleted, outcome.FirstServed);
        Assert.Equal(ErrorCode.OffsetOutOfRange, outcome.ReadBelow);
    }

    [Fact]
    public void A_segment_deleted_by_retention_comes_back_after_a_crash_and_is_never_served()
    {
        var outcome = Run(log =>
        {
            Assert.True(log.ApplyRetention(nowMs: 1105) > 0);
            return log.LogStartOffset;
        }, skipCheckpoint: false, out long deleted);
        Assert.True(deleted > 0);
        Assert.True(outcome.SegmentCameBack);
        Assert.True(outcome.LogStart >= deleted, $"log start {outcome.LogStart} below the retention start {deleted}");
        Assert.Equal(deleted, outcome.FirstServed);
        Assert.Equal(ErrorCode.OffsetOutOfRange, outcome.ReadBelow);
    }

    /// <summary>The check must be able to fail: without the checkpoint before the delete, the returned segment
    /// is served again and the log start falls below what DeleteRecords acknowledged.</summary>
    [Fact]
    public void Without_the_checkpoint_before_the_delete_the_returned_segment_is_served_again()
    {
        var outcome = Run(log =>
        {
            var (error, low) = log.DeleteRecordsBefore(7);
            Assert.Equal((ErrorCode.None, 7L), (error, low));
            return low;
        }, skipCheckpoint: true, out long deleted);
        Assert.True(outcome.SegmentCameBack);
        Assert.True(outcome.LogStart < deleted, "the planted ordering bug is visible to the check");
        Assert.Equal(0, outcome.FirstServed);
    }
}
