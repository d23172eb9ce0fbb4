using DetKafka.Core.Groups;
using DetKafka.Sim;
using Xunit;
using Xunit.Abstractions;

namespace DetKafka.Properties.Sim;

/// <summary>
/// The simulator's consumer-group checks (GROUPS.md): group runs pass, and each check fails when the behaviour
/// it guards is broken on purpose with a test-only fault switch of the coordinator.
/// </summary>
public sealed class GroupSimTests(ITestOutputHelper output)
{
    private static SimulationOptions GroupRun(ulong seed, bool commitAfterProcess, GroupFaults faults = GroupFaults.None, bool staticMembers = false)
    {
        // Plain producers: the swarm draws no group with transactional ones (the group checks expect every offset to
        // hold a record its members process; transaction markers take offsets).
        var drawn = SimulationTests.NonTransactional(SimulationOptions.Draw(seed));
        return drawn with
        {
            Workload = drawn.Workload with { Group = new GroupWorkload(3, commitAfterProcess, staticMembers, 3_000, 0) },
            GroupFaults = faults,
        };
    }

    /// <summary>Seeds 1..n: the first violation each run reports (null for a pass).</summary>
    private List<(ulong Seed, Violation? Violation)> Sweep(int n, Func<ulong, SimulationOptions> options)
    {
        var results = new List<(ulong, Violation?)>();
        for (ulong seed = 1; seed <= (ulong)n; seed++)
        {
            var r = Simulation.Run(seed, options(seed));
            results.Add((seed, r.Passed ? null : r.FirstViolation));
            if (!r.Passed) output.WriteLine($"seed {seed}: {r.Verdict} {r.FirstViolation}");
        }
        return results;
    }

    [Fact]
    public void Group_runs_pass_with_both_commit_modes_and_static_members()
    {
        var after = Sweep(12, s => GroupRun(s, commitAfterProcess: true));
        var before = Sweep(12, s => GroupRun(s, commitAfterProcess: false, staticMembers: true));
        Assert.All(after.Concat(before), r => Assert.Null(r.Violation));
    }

    [Fact]
    public void Without_a_generation_bump_two_members_own_a_partition_in_one_generation()
    {
        var runs = Sweep(12, s => GroupRun(s, commitAfterProcess: true, GroupFaults.SkipGenerationBump));
        Assert.Contains(runs, r => r.Violation?.Message.Contains("group-single-owner", StringComparison.Ordinal) == true);
    }

    [Fact]
    public void Commits_acknowledged_before_they_are_durable_are_caught_going_backwards_after_a_crash()
    {
        var runs = Sweep(16, s => GroupRun(s, commitAfterProcess: true, GroupFaults.AnswerCommitBeforeDurable)
            .Force(FaultKind.Crash, s).Force(FaultKind.SlowFsync, s));
        Assert.Contains(runs, r => r.Violation?.Message.Contains("group-offset-monotonic", StringComparison.Ordinal) == true);
    }

    [Fact]
    public void A_coordinator_that_stores_one_past_the_commit_loses_records_at_least_once_catches_it()
    {
        var runs = Sweep(12, s => GroupRun(s, commitAfterProcess: true, GroupFaults.CommitSkipsARecord).Force(FaultKind.ClientCrash, s));
        Assert.Contains(runs, r => r.Violation?.Checker == "group-at-least-once");
    }

    [Fact]
    public void An_offset_fetch_one_behind_makes_commit_before_process_read_a_record_twice()
    {
        var runs = Sweep(12, s => GroupRun(s, commitAfterProcess: false, GroupFaults.FetchOffsetOneBehind).Force(FaultKind.ClientCrash, s));
        Assert.Contains(runs, r => r.Violation?.Message.Contains("group-at-most-once", StringComparison.Ordinal) == true);
    }

    [Fact]
    public void A_group_that_never_rebalances_again_fails_the_liveness_bound()
    {
        var runs = Sweep(8, s => GroupRun(s, commitAfterProcess: true, GroupFaults.NeverCompleteRebalance).Force(FaultKind.ClientCrash, s));
        Assert.Contains(runs, r => r.Violation?.Checker == "liveness" && r.Violation.Message.Contains("group g", StringComparison.Ordinal));
    }
}
