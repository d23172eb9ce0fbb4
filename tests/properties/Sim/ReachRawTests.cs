using DetKafka.Sim;
using DetKafka.Sim.Reach;
using Xunit;

namespace DetKafka.Properties.Sim;

/// <summary>
/// The admin process's hand-framed requests (SIMULATION.md, "Raw requests and malformed input"): the APIs the
/// simulated KafkaClient does not speak (transactions, KIP-848, LeaveGroup's member life, ApiVersions at every version)
/// and malformed input are driven and judged; each new check goes red within a bounded number of seeds when its bug is
/// planted through a test-only switch.
/// </summary>
public class ReachRawTests
{
    private static SimulationOptions WithAdmin(ulong seed, PlantedBugs bugs = PlantedBugs.None)
    {
        var drawn = SimulationOptions.Draw(seed);
        return drawn with { Admin = drawn.Admin ?? AdminWorkloadOptions.Default, PlantedBugs = bugs };
    }

    [Fact]
    public void Raw_requests_reach_the_transaction_group_and_version_apis_and_malformed_input_is_answered_or_closed()
    {
        string[] checks =
        [
            "ApiVersions", "JoinGroup", "SyncGroup", "Heartbeat", "LeaveGroup", "DescribeGroups", "ConsumerGroupHeartbeat",
            "ConsumerGroupDescribe", "InitProducerId", "AddPartitionsToTxn", "AddOffsetsToTxn", "TxnOffsetCommit", "EndTxn",
            "DescribeTransactions", "ListTransactions", "malformed.closed", "malformed.corrupt-batch", "compaction.produce",
            "compaction.fetch", "Metadata.v0", "Metadata.v12", "ListOffsets.v0", "OffsetCommit.v9", "OffsetFetch.v9", "WriteTxnMarkers",
        ];
        var seen = new SortedDictionary<string, long>(StringComparer.Ordinal);
        for (ulong seed = 1; seed <= 10; seed++)
        {
            var result = Simulation.Run(seed, WithAdmin(seed));
            Assert.True(result.Passed, result.Summary());
            foreach (var (name, count) in result.Counters)
                if (name.StartsWith("model.checked.", StringComparison.Ordinal))
                    seen[name["model.checked.".Length..]] = seen.GetValueOrDefault(name["model.checked.".Length..]) + count;
        }
        Assert.All(checks, c => Assert.True(seen.GetValueOrDefault(c) > 0, $"no {c} answer was checked: {string.Join(", ", seen)}"));
    }

    private static SimulationResult FirstRed(PlantedBugs bug, int seedsMax, string[] checkers)
    {
        for (ulong seed = 1; seed <= (ulong)seedsMax; seed++)
        {
            var result = Simulation.Run(seed, WithAdmin(seed, bug));
            if (result.Passed) continue;
            Assert.True(result.FirstViolation is { } v && checkers.Contains(v.Checker), $"{bug}: seed {seed} failed otherwise: {result.Summary()}");
            return result;
        }
        Assert.Fail($"{seedsMax} seeds with {bug} planted all passed: the checks cannot see it");
        return null!;
    }

    [Fact]
    public void A_cleaner_that_drops_a_keys_latest_record_is_caught_in_the_swarm()
        => FirstRed(PlantedBugs.CleanerDropsLatest, 20, ["model-compaction-latest"]);

    [Fact]
    public void A_paused_clients_think_timers_wait_for_it()
    {
        long deferred = 0;
        for (ulong seed = 1; seed <= 10 && deferred == 0; seed++)
        {
            var result = Simulation.Run(seed, SimulationOptions.Draw(seed).Force(FaultKind.ClientPause, seed));
            Assert.True(result.Passed, result.Summary());
            deferred += result.Counters.GetValueOrDefault("client.timers-deferred");
        }
        Assert.True(deferred > 0, "no workload timer fired into a paused client in 10 seeds");
    }

    [Fact]
    public void A_corrupt_batch_acknowledged_is_caught_by_the_malformed_input_check()
        => FirstRed(PlantedBugs.SkippedBatchCrc, 20, ["model-malformed-accepted", "model-fetch-high-watermark", "model-fetch-invented"]);

    [Fact]
    public void A_leave_that_keeps_the_member_is_caught_when_the_group_is_described()
        => FirstRed(PlantedBugs.IgnoredLeaveGroup, 20, ["model-leave-group"]);

    [Fact]
    public void An_abort_that_commits_is_caught_by_describe_transactions()
        => FirstRed(PlantedBugs.EndTxnCommitsAborts, 20, ["model-describe-transactions"]);
}
