using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Storage;
using DetKafka.Sim;
using Xunit;

namespace DetKafka.Properties.Storage;

public class LogManagerTests
{
    private static readonly TopicPartition[] Partitions =
        [new("orders", 1), new("a-b", 0), new("orders", 0), new("a-b", 10), new("a-b", 2), new("Zeta", 0)];

    [Fact]
    public void Logs_are_created_listed_in_order_and_found_again_after_a_restart()
    {
        var disk = new SimDisk();
        var manager = new LogManager(disk, "data", NullBrokerLog.Instance);
        foreach (var tp in Partitions) manager.GetOrCreateLog(tp, LogConfig.Default, 0);
        var sorted = Partitions.OrderBy(p => p, TopicPartitionComparer.Instance).ToList();
        Assert.Equal(sorted, manager.Logs.Select(l => l.TopicPartition));
        Assert.Equal(["Zeta", "a-b", "a-b", "a-b", "orders", "orders"], sorted.Select(p => p.Topic));
        Assert.Equal([0, 0, 2, 10, 0, 1], sorted.Select(p => p.Partition));

        var log = manager.GetLog(new("orders", 1))!;
        Assert.Same(log, manager.GetOrCreateLog(new("orders", 1), LogConfig.Default, 0));
        Assert.Equal(ErrorCode.None, log.Append(StorageKit.Batch(1, "x"), 0).Error);
        manager.FlushAll();
        manager.Dispose();

        disk.Crash();
        using (var stray = disk.Open("data/not-a-partition", create: true)) { }
        disk.CreateDirectory("data/no_partition_number");
        disk.CreateDirectory("data/t-01");
        var restarted = new LogManager(disk, "data", NullBrokerLog.Instance);
        var configs = new List<string>();
        var found = restarted.LoadAll(topic => { configs.Add(topic); return LogConfig.Default; }, 0);
        Assert.Equal(sorted, found);
        Assert.Equal(1, restarted.GetLog(new("orders", 1))!.LogEndOffset);
        Assert.Null(restarted.GetLog(new("t", 1)));
    }

    [Fact]
    public void Sync_tokens_route_completions_and_group_commit_pipelines()
    {
        var disk = new SimDisk();
        var manager = new LogManager(disk, "", NullBrokerLog.Instance);
        var a = manager.GetOrCreateLog(new("a", 0), LogConfig.Default, 0);
        var b = manager.GetOrCreateLog(new("b", 0), LogConfig.Default, 0);
        a.Append(StorageKit.Batch(1, "a1"), 0);
        b.Append(StorageKit.Batch(1, "b1", "b2"), 0);
        Assert.Equal(2, manager.MaybeStartSyncs(0));
        Assert.Equal(0, manager.MaybeStartSyncs(0));
        a.Append(StorageKit.Batch(1, "a2"), 0);
        var completions = disk.CompletePendingSyncs().Select(c => manager.OnSyncCompleted(c.Token, c.Status, 0)).ToList();
        Assert.Equal([new TopicPartition("a", 0), new TopicPartition("b", 0)], completions.Select(c => c!.Value.TopicPartition));
        Assert.Equal([1L, 2L], completions.Select(c => c!.Value.FlushedOffset));
        Assert.All(completions, c => Assert.Equal(ErrorCode.None, c!.Value.Error));
        // a's second write was not covered; its completion started the next sync at once.
        Assert.True(a.SyncInFlight);
        Assert.Equal(1, manager.SyncsInFlight);
        var next = disk.CompletePendingSyncs().Single();
        Assert.Equal(2, manager.OnSyncCompleted(next.Token, next.Status, 0)!.Value.FlushedOffset);
        Assert.Null(manager.OnSyncCompleted(next.Token, next.Status, 0));
        Assert.Equal(long.MaxValue, manager.NextDeadlineMs);
    }

    [Fact]
    public void Deleting_a_log_removes_its_directory_and_forgets_its_sync()
    {
        var disk = new SimDisk();
        var manager = new LogManager(disk, "data", NullBrokerLog.Instance);
        var tp = new TopicPartition("gone", 3);
        var log = manager.GetOrCreateLog(tp, LogConfig.Default, 0);
        log.Append(StorageKit.Batch(1, "x"), 0);
        Assert.Equal(1, manager.MaybeStartSyncs(0));
        Assert.True(manager.DeleteLog(tp));
        Assert.False(disk.DirectoryExists("data/gone-3"));
        Assert.Null(manager.GetLog(tp));
        var c = disk.CompletePendingSyncs().Single();
        Assert.Null(manager.OnSyncCompleted(c.Token, c.Status, 0));
        Assert.False(manager.DeleteLog(tp));
        var fresh = manager.GetOrCreateLog(tp, LogConfig.Default, 0);
        Assert.Equal(0, fresh.LogEndOffset);
    }

    [Fact]
    public void Relaxed_logs_expose_their_flush_deadline()
    {
        var manager = new LogManager(new SimDisk(), "data", NullBrokerLog.Instance);
        var log = manager.GetOrCreateLog(new("r", 0), LogConfig.Default with { FlushMs = 500, FlushMessages = 1000 }, 0);
        manager.MaybeStartSyncs(100);
        log.Append(StorageKit.Batch(1, "x"), 0);
        Assert.Equal(600, manager.NextDeadlineMs);
        Assert.Equal(0, manager.MaybeStartSyncs(599));
        Assert.Equal(1, manager.MaybeStartSyncs(600));
    }

    [Theory]
    [InlineData("t-0", "t", 0)]
    [InlineData("my-topic-12", "my-topic", 12)]
    [InlineData("t--1", "t-", 1)]
    [InlineData("a.b_c-2147483647", "a.b_c", int.MaxValue)]
    public void Directory_names_parse(string name, string topic, int partition)
    {
        Assert.True(TopicPartition.TryParseDirectoryName(name, out var tp));
        Assert.Equal(new TopicPartition(topic, partition), tp);
        Assert.Equal(name, tp.DirectoryName);
    }

    [Theory]
    [InlineData("t")]
    [InlineData("-1")]
    [InlineData("t-")]
    [InlineData("t-01")]
    [InlineData("t-+1")]
    [InlineData("t-2147483648")]
    [InlineData("t-1a")]
    public void Other_names_do_not(string name) => Assert.False(TopicPartition.TryParseDirectoryName(name, out _));
}
