using DetKafka.Sim.Reach;
using Xunit;

namespace DetKafka.Properties.Sim;

/// <summary>
/// Recovery at every disk operation of multi-file changes (segment rolls, DeleteRecords' checkpoint and segment
/// deletes, a partition's deletion) under the simulated disk's sync and directory-sync rules, and from every
/// combination of damaged or stale offset index, time index and log start checkpoint (<see cref="CrashPointExplorer"/>).
/// </summary>
public class CrashPointTests
{
    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(3UL)]
    public void A_crash_at_every_disk_operation_recovers_every_acknowledged_record(ulong seed)
    {
        var report = CrashPointExplorer.Explore(seed);
        Assert.True(report.CrashPoints > 20, $"only {report.CrashPoints} crash points: the scenario does too little");
        Assert.True(report.Problems.Count == 0, string.Join("\n", report.Problems.Take(10)));
    }

    [Fact]
    public void Without_the_log_start_checkpoint_some_crash_point_brings_deleted_records_back()
    {
        for (ulong seed = 1; seed <= 10; seed++)
        {
            var report = CrashPointExplorer.Explore(seed, skipCheckpoint: true);
            if (report.Problems.Count == 0) continue;
            Assert.Contains(report.Problems, p => p.Contains("below the acknowledged DeleteRecords", StringComparison.Ordinal));
            return;
        }
        Assert.Fail("10 seeds with the checkpoint planted out recovered fine: the crash points cannot see it");
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    public void Every_combination_of_damaged_or_stale_start_up_files_recovers(ulong seed)
    {
        var report = CrashPointExplorer.DamageCombinations(seed);
        Assert.Equal(125, report.CrashPoints);
        Assert.True(report.Problems.Count == 0, string.Join("\n", report.Problems.Take(10)));
    }
}
