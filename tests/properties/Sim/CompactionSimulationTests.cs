using DetKafka.Core.Records;
using DetKafka.Core.Storage;
using DetKafka.Sim.Compaction;
using Xunit;

namespace DetKafka.Properties.Sim;

/// <summary>The compaction workload in the simulator: seeds pass, each check fails when its behaviour is broken
/// on purpose (test-only switches in Core), and a seed replays to the same trace.</summary>
public sealed class CompactionSimulationTests
{
    [Fact]
    public void Compaction_runs_with_crashes_and_disk_faults_keep_every_check()
    {
        long crashes = 0, faults = 0;
        for (ulong seed = 1; seed <= 6; seed++)
        {
            var result = CompactionSimulation.Run(seed);
            Assert.True(result.Passed, $"seed {seed}: " + result.Violation + "\n" + string.Join("\n", result.Trace.TakeLast(30)));
            // The run did what it is for: the cleaner removed records and swapped segments.
            Assert.True(result.Counters["swaps"] > 0, "the cleaner swapped segments");
            Assert.True(result.Counters["records-removed"] > 0, "the cleaner removed records");
            crashes += result.Counters.GetValueOrDefault("crashes");
            faults += result.Counters.GetValueOrDefault("faults");
        }
        Assert.True(crashes > 0 && faults > 0, "crashes and disk faults happened");
    }

    /// <summary>The first violation over seeds 1.., stopping at the first seed that has one.</summary>
    private static string? FirstViolation()
    {
        for (ulong seed = 1; seed <= 6; seed++)
            if (CompactionSimulation.Run(seed).Violation is { } v) return v;
        return null;
    }

    [Fact]
    public void Same_seed_same_trace()
    {
        var a = CompactionSimulation.Run(11);
        var b = CompactionSimulation.Run(11);
        Assert.Equal(a.TraceHash, b.TraceHash);
        Assert.Equal(a.Trace, b.Trace);
        Assert.NotEqual(a.TraceHash, CompactionSimulation.Run(12).TraceHash);
    }

    [Theory]
    [InlineData(CleanerBreak.DropLatest, "[latest-value]")]
    [InlineData(CleanerBreak.EarlyTombstoneRemoval, "[tombstone-retention]")]
    [InlineData(CleanerBreak.UnderreportPassEnd, "[above-cleaner-point]")]
    public void Each_check_fails_when_the_cleaner_is_broken_on_purpose(CleanerBreak brk, string check)
    {
        LogCleaner.BreakForTests = brk;
        try
        {
            var violation = FirstViolation();
            Assert.NotNull(violation);
            Assert.StartsWith(check, violation);
        }
        finally
        {
            LogCleaner.BreakForTests = CleanerBreak.None;
        }
    }

    [Fact]
    public void The_retention_check_fails_when_retention_is_broken_on_purpose()
    {
        UnifiedLog.BreakRetentionForTests = true;
        try
        {
            var violation = FirstViolation();
            Assert.NotNull(violation);
            Assert.StartsWith("[retention-bounds]", violation);
        }
        finally
        {
            UnifiedLog.BreakRetentionForTests = false;
        }
    }

    [Fact]
    public void The_offset_order_check_fails_on_a_read_out_of_order_or_not_as_written()
    {
        // Offsets out of order cannot be produced by a switch without tripping Core's own assertions first
        // (segments and indexes check them), so this check is shown failing on a fabricated read.
        var written = new Dictionary<long, (string, string?, long)> { [0] = ("k0", "v1", 0), [1] = ("k1", "v2", 0) };
        DecodedRecord R(long o, string k, string v) => new(o, 0, System.Text.Encoding.UTF8.GetBytes(k), System.Text.Encoding.UTF8.GetBytes(v), []);
        Assert.Null(CompactionSimulation.Check([R(0, "k0", "v1"), R(1, "k1", "v2")], written, 2, 0, 0, LogConfig.Default, 0));
        Assert.StartsWith("[offsets-increasing]", CompactionSimulation.Check([R(1, "k1", "v2"), R(0, "k0", "v1")], written, 2, 0, 0, LogConfig.Default, 0));
        Assert.StartsWith("[offsets-increasing]", CompactionSimulation.Check([R(0, "k0", "v2"), R(1, "k1", "v2")], written, 2, 0, 0, LogConfig.Default, 0));
    }
}
