using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Storage;
using DetKafka.Sim;
using Xunit;

namespace DetKafka.Properties.Storage;

/// <summary>
/// Creating logs with one directory fsync per partition (STORAGE.md, "Creating a log"): a power loss at any disk
/// step of creating a topic's logs leaves nothing a restart cannot open, a creation that returned survives the
/// crash whole, and a record acknowledged on a new log survives too (its file's entry was durable before the ack).
/// </summary>
public sealed class LogCreationTests
{
    private const int Partitions = 3;
    private static TopicPartition Tp(int p) => new("t", p);

    /// <summary>Appends one batch and completes its sync, as an acks=all produce does before its answer.</summary>
    private static void AppendAcknowledged(SimDisk sim, LogManager manager, UnifiedLog log, string value)
    {
        var result = log.Append(StorageKit.Batch(1000, value), 0);
        Assert.Equal(ErrorCode.None, result.Error);
        log.MaybeStartSync(0);
        foreach (var (token, status) in sim.CompletePendingSyncs()) manager.OnSyncCompleted(token, status, 0);
        Assert.True(log.FlushedOffset > result.LastOffset, "the append is durable (acknowledged)");
    }

    private static List<string> Values(UnifiedLog log)
        => StorageKit.ReadAll(log).Select(r => System.Text.Encoding.UTF8.GetString(r.Value!)).ToList();

    [Fact]
    public void A_crash_at_any_step_of_creating_logs_leaves_every_partition_usable_and_a_finished_creation_durable()
    {
        bool finishedOnce = false;
        for (int crashAt = 1; crashAt < 1_000; crashAt++)
        {
            var sim = new SimDisk();
            var disk = new CrashingDisk(sim);
            var manager = new LogManager(disk, "data", NullBrokerLog.Instance);
            disk.CrashAfter = crashAt;
            bool crashed = false;
            try
            {
                for (int p = 0; p < Partitions; p++) manager.GetOrCreateLog(Tp(p), LogConfig.Default, 0);
            }
            catch (PowerLoss)
            {
                crashed = true;
            }
            disk.CrashAfter = -1;
            sim.Crash();
            if (!crashed)
            {
                // Created and answered: every partition's directory and segment files came back from the crash.
                for (int p = 0; p < Partitions; p++)
                    foreach (var suffix in new[] { LogSegment.LogSuffix, LogSegment.IndexSuffix, LogSegment.TimeIndexSuffix })
                        Assert.True(sim.FileExists($"data/t-{p}/{LogSegment.FileStem(0)}{suffix}"),
                            $"partition {p}'s {suffix} file was lost although its creation returned");
                finishedOnce = true;
            }
            // A restart: recover what is on the disk, then create what the metadata names and is missing.
            var reopened = new LogManager(sim, "data", NullBrokerLog.Instance);
            reopened.LoadAll(_ => LogConfig.Default, 0);
            for (int p = 0; p < Partitions; p++)
            {
                var log = reopened.GetOrCreateLog(Tp(p), LogConfig.Default, 0);
                Assert.Equal(0, log.LogEndOffset);
                Assert.Equal(ErrorCode.None, log.Failure);
                AppendAcknowledged(sim, reopened, log, "after-" + p);
            }
            // Not broken: what was acknowledged on the recovered partitions survives the next crash.
            sim.Crash();
            var again = new LogManager(sim, "data", NullBrokerLog.Instance);
            again.LoadAll(_ => LogConfig.Default, 0);
            for (int p = 0; p < Partitions; p++)
                Assert.Equal(["after-" + p], Values(again.GetLog(Tp(p))!));
            if (!crashed) break;
        }
        Assert.True(finishedOnce, "some crash point lay past the end of the creation");
    }

    [Fact]
    public void A_record_acknowledged_on_a_new_log_survives_a_crash()
    {
        var sim = new SimDisk();
        var manager = new LogManager(sim, "data", NullBrokerLog.Instance);
        var log = manager.GetOrCreateLog(Tp(0), LogConfig.Default, 0);
        Assert.Equal(0, sim.PendingDirectoryChanges);
        AppendAcknowledged(sim, manager, log, "acked");
        sim.Crash();
        var reopened = new LogManager(sim, "data", NullBrokerLog.Instance);
        reopened.LoadAll(_ => LogConfig.Default, 0);
        Assert.Equal(["acked"], Values(reopened.GetLog(Tp(0))!));
    }

    [Fact]
    public void A_deferred_create_is_lost_by_a_crash_until_its_directory_is_synced()
    {
        var sim = new SimDisk();
        sim.CreateDirectory("d");
        sim.CreateDeferred("d/a").Dispose();
        Assert.True(sim.FileExists("d/a"));
        sim.Crash();
        Assert.False(sim.FileExists("d/a"));
        sim.CreateDeferred("d/b").Dispose();
        Assert.Equal(DiskStatus.Ok, sim.SyncDirectory("d"));
        sim.Crash();
        Assert.True(sim.FileExists("d/b"));
    }
}
