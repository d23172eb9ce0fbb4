using DetKafka.Core.Raft;
using DetKafka.Sim.Raft;
using Xunit;
using Xunit.Abstractions;

namespace DetKafka.Properties.Raft;

/// <summary>
/// The Raft core's own simulation (REPLICATION.md, "The Raft simulation"): a bounded sweep of swarm-drawn seeds (3 and 5
/// replicas, every fault class on in about half of them) passes every check; each planted bug turns it red within a
/// bounded number of seeds on the check meant to catch it; a seed replays to the same trace.
/// </summary>
public sealed class RaftSimulationTests(ITestOutputHelper output)
{
    /// <summary>The CI sweep: seeds 1..1000, options drawn per seed.</summary>
    [Fact]
    public void A_sweep_of_1000_seeds_passes_every_check()
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var results = new RaftSimResult[1000];
        Parallel.For(0, results.Length, new ParallelOptions { MaxDegreeOfParallelism = 2 }, i => results[i] = RaftSimulation.Run((ulong)i + 1));
        watch.Stop();
        var failed = results.Where(r => !r.Passed).Select(r => $"seed {r.Seed} ({r.Options.Nodes} nodes, {RaftSimOptions.Names(r.Options.Faults)}): {r.Summary()}").ToList();
        output.WriteLine($"1000 seeds in {watch.Elapsed.TotalSeconds:F1} s; {results.Sum(r => r.Events)} events; {results.Sum(r => r.Elections)} leaders, "
            + $"{results.Sum(r => r.Crashes)} crashes, {results.Sum(r => r.EmptyDisks)} empty disks, {results.Sum(r => r.SnapshotsLoaded)} snapshots, {results.Sum(r => r.Acknowledged)} proposals acknowledged");
        Assert.True(failed.Count == 0, string.Join("\n", failed.Take(20)));
        // The sweep exercised what it claims to: both sizes, every fault, elections, empty disks, commits.
        Assert.Contains(results, r => r.Options.Nodes == 3);
        Assert.Contains(results, r => r.Options.Nodes == 5);
        foreach (var f in Enum.GetValues<RaftFault>().Where(f => f is not (RaftFault.None or RaftFault.All)))
            Assert.True(results.Count(r => r.Options.Faults.HasFlag(f)) > 300, $"{f} drawn too rarely");
        Assert.True(results.Sum(r => r.EmptyDisks) > 100 && results.Sum(r => r.Crashes) > 1000);
        Assert.True(results.Sum(r => r.SnapshotsLoaded) > 20, "metadata-log seeds loaded snapshots");
        Assert.True(results.All(r => r.Acknowledged >= r.Options.LivenessProposals));
        Assert.True(results.Count(r => r.Elections >= 2) > 500, "leaders changed in most seeds");
    }

    [Theory]
    [InlineData(3)]
    [InlineData(5)]
    public void Every_group_size_passes_a_sweep(int nodes)
    {
        for (ulong seed = 50_001; seed <= 50_150; seed++)
        {
            var r = RaftSimulation.Run(seed, RaftSimOptions.Draw(seed, nodes));
            Assert.True(r.Passed, $"seed {seed}: {r.Summary()}");
        }
    }

    [Fact]
    public void All_faults_at_once_still_pass()
    {
        for (ulong seed = 60_001; seed <= 60_100; seed++)
        {
            var r = RaftSimulation.Run(seed, RaftSimOptions.Draw(seed) with { Faults = RaftFault.All });
            Assert.True(r.Passed, $"seed {seed}: {r.Summary()}");
        }
    }

    /// <summary>Seeds-to-catch bound for the planted bugs (each is caught far sooner; see REPLICATION.md).</summary>
    private const int SeedsToCatch = 100;

    [Theory]
    [InlineData(RaftPlantedBugs.VoteNotPersisted, true, "quorum-state-durable")]
    [InlineData(RaftPlantedBugs.CommitUnsyncedOffsets, true, "committed-entry-changed")]
    [InlineData(RaftPlantedBugs.NoPreVote, true, "epoch-inflation")]
    [InlineData(RaftPlantedBugs.EmptyDiskVotesAsOldSelf, true, "epoch-monotonic")]
    [InlineData(RaftPlantedBugs.EmptyDiskVotesAsOldSelf, false, "committed-entry-changed")]
    public void A_planted_bug_turns_the_sweep_red(RaftPlantedBugs bug, bool durableStateChecks, string check)
    {
        var seen = new SortedDictionary<string, int>(StringComparer.Ordinal);
        for (ulong seed = 1; seed <= SeedsToCatch; seed++)
        {
            var r = RaftSimulation.Run(seed, RaftSimOptions.Draw(seed) with { PlantedBugs = bug, DurableStateChecks = durableStateChecks });
            if (r.Violation is { } v) seen[v] = seen.GetValueOrDefault(v) + 1;
            if (r.Violation == check)
            {
                output.WriteLine($"{bug} (durable-state checks {(durableStateChecks ? "on" : "off")}): caught at seed {seed} by {check}: {r.Message}");
                return;
            }
        }
        Assert.Fail($"{bug} was not caught by {check} in {SeedsToCatch} seeds; violations seen: {string.Join(", ", seen.Select(kv => $"{kv.Key} x{kv.Value}"))}");
    }

    [Fact]
    public void The_same_seed_gives_the_same_run()
    {
        var lines1 = new List<string>();
        var lines2 = new List<string>();
        var a = RaftSimulation.Run(7, null, lines1.Add);
        var b = RaftSimulation.Run(7, null, lines2.Add);
        var c = RaftSimulation.Run(7);
        Assert.Equal(a.TraceHash, b.TraceHash);
        Assert.Equal(a.TraceHash, c.TraceHash); // tracing text changes nothing
        Assert.Equal(lines1, lines2);
        Assert.NotEqual(a.TraceHash, RaftSimulation.Run(8).TraceHash);
    }
}
