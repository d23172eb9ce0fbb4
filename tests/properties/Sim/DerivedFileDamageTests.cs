using DetKafka.Sim;
using DetKafka.Sim.Reach;
using Xunit;
using Xunit.Abstractions;

namespace DetKafka.Properties.Sim;

/// <summary>
/// Issue 14's recovery paths and issue 10's transactional swarm (SIMULATION.md): the derived-file-damage fault
/// damages, while a node is down, files recovery rebuilds (indexes, producer snapshots, the leader-epoch checkpoint,
/// .tmp leftovers), every kind of damage happens, and the runs stay green; a planted recovery bug (an index trusted
/// without checking its entries) turns the sweep red; the swarm draws transactional workloads by itself.
/// </summary>
public sealed class DerivedFileDamageTests(ITestOutputHelper output)
{
    /// <summary>The seed's draw with crashes on and every restart finding damage.</summary>
    private static SimulationOptions Damaging(ulong seed, PlantedBugs bugs = PlantedBugs.None)
        => SimulationOptions.Draw(seed).Force(FaultKind.Crash, seed)
            .WithFault(FaultKind.DerivedFileDamage, new FaultSpec(true, 0, 0, 0, 1.0)) with { PlantedBugs = bugs };

    [Fact]
    public void Damaged_derived_files_are_rebuilt_and_every_check_stays_green()
    {
        var fired = new SortedDictionary<string, long>(StringComparer.Ordinal);
        for (ulong seed = 1; seed <= 16; seed++)
        {
            var r = Simulation.Run(seed, Damaging(seed));
            Assert.True(r.Passed, r.Summary() + " " + string.Join("; ", r.HistoryProblems));
            foreach (var (name, count) in r.Counters)
                if (name.StartsWith("disk.derived-damage.", StringComparison.Ordinal) || name == "fault.derived-file-damage")
                    fired[name] = fired.GetValueOrDefault(name) + count;
        }
        output.WriteLine(string.Join(", ", fired.Select(kv => kv.Key + "=" + kv.Value)));
        foreach (var kind in new[] { "flip", "truncate", "delete", "stale", "tmp" })
            Assert.True(fired.GetValueOrDefault("disk.derived-damage." + kind) > 0, $"no {kind} damage in 16 seeds: {string.Join(", ", fired)}");
    }

    [Fact]
    public void Damage_never_reaches_the_log_files()
    {
        // Derived files only: the segment files' bytes at rest are the same before and after the damage.
        var world = new DetKafka.Sim.World.SimWorld(5, Damaging(5));
        world.Boot();
        while (world.NowUs < 3_000_000 && world.Step()) { }
        var node = world.Nodes[0];
        world.CrashNode(node, null);
        var logs = LogFiles(node.Disk);
        Assert.NotEmpty(logs);
        string what = world.DamageDerivedFiles(node, 6, new DetKafka.Core.Abstractions.SeededRandom(9));
        output.WriteLine(what);
        Assert.Equal(logs, LogFiles(node.Disk));
        world.StartNode(node);
        Assert.True(node.IsUp);
    }

    private static SortedDictionary<string, string> LogFiles(DetKafka.Sim.SimDisk disk)
    {
        var files = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var dir in disk.List("data"))
            foreach (var name in disk.List("data/" + dir))
                if (name.EndsWith(".log", StringComparison.Ordinal))
                    files["data/" + dir + "/" + name] = Convert.ToHexString(disk.ReadDurable("data/" + dir + "/" + name));
        return files;
    }

    [Fact]
    public void A_recovery_that_trusts_a_damaged_index_turns_the_sweep_red()
    {
        const int seedsMax = 40;
        for (ulong seed = 1; seed <= seedsMax; seed++)
        {
            var r = Simulation.Run(seed, Damaging(seed, PlantedBugs.TrustedDamagedIndex));
            if (r.Passed) continue;
            output.WriteLine($"seed {seed}: {r.Summary()}");
            return;
        }
        Assert.Fail($"{seedsMax} seeds with a trusted damaged index all passed: the checks cannot see it");
    }

    [Fact]
    public void The_restart_invariant_sees_an_index_entry_that_names_no_batch()
    {
        // A plausible damage (one middle entry's position moved by a byte: still increasing, still inside the file)
        // that recovery's per-entry check rejects; with that check planted away the invariant must name it.
        foreach (bool planted in new[] { false, true })
        {
            var world = new DetKafka.Sim.World.SimWorld(5, Damaging(5).WithoutFaults());
            world.Boot();
            var node = world.Nodes[0];
            string? victim = null;
            while (world.Step() && world.NowUs < 20_000_000)
            {
                if (!node.IsUp) continue;
                victim = IndexWithMiddleEntry(node.Disk);
                if (victim is not null) break;
            }
            Assert.NotNull(victim);
            world.CrashNode(node, null);
            var bytes = node.Disk.ReadDurable(victim);
            node.Disk.FlipBit(victim, 8 + 7, 0); // entry 1's position, lowest bit
            bool before = DetKafka.Core.Storage.LogSegment.TrustIndexesForTests;
            DetKafka.Core.Storage.LogSegment.TrustIndexesForTests = planted;
            try
            {
                world.StartNode(node);
            }
            finally
            {
                DetKafka.Core.Storage.LogSegment.TrustIndexesForTests = before;
            }
            string? problem = DetKafka.Sim.Invariants.RecoveredIndexesNameBatches.Problem(node);
            output.WriteLine($"planted={planted}: {victim} ({bytes.Length} bytes): {problem ?? "holds"}");
            if (planted) Assert.NotNull(problem);
            else Assert.Null(problem);
        }
    }

    /// <summary>A non-last segment's offset index with at least three entries at rest, from a segment whose roll
    /// has finished: recovery validates a segment still closing (its <c>.closing</c> marker present) batch by batch
    /// whatever its index says, so damage there is repaired, not trusted. The directory is synced so the marker's
    /// delete is at rest too (the log's next roll would do it).</summary>
    private static string? IndexWithMiddleEntry(DetKafka.Sim.SimDisk disk)
    {
        foreach (var dir in disk.List("data"))
        {
            if (!dir.StartsWith("jepsen-", StringComparison.Ordinal)) continue;
            var names = disk.List("data/" + dir);
            var indexes = names.Where(n => n.EndsWith(".index", StringComparison.Ordinal)).ToList();
            foreach (var name in indexes.Take(indexes.Count - 1))
            {
                string closing = name[..^".index".Length] + DetKafka.Core.Storage.UnifiedLog.ClosingSuffix;
                if (names.Contains(closing) || disk.ReadDurable("data/" + dir + "/" + name).Length < 24) continue;
                Assert.Equal(DetKafka.Core.Abstractions.DiskStatus.Ok, disk.SyncDirectory("data/" + dir));
                return "data/" + dir + "/" + name;
            }
        }
        return null;
    }

    [Fact]
    public void The_swarm_draws_transactional_workloads_for_about_a_quarter_of_the_seeds()
    {
        int transactional = 0;
        for (ulong seed = 1; seed <= 400; seed++)
        {
            var w = SimulationOptions.Draw(seed).Workload;
            bool any = w.Producers.Any(p => p.Transactional);
            if (!any) continue;
            transactional++;
            Assert.All(w.Producers, p => Assert.True(p.Transactional && p.Idempotence && p.Acks == -1));
            Assert.All(w.Consumers, c => Assert.Equal(1, c.IsolationLevel));
            Assert.Null(w.Group);
        }
        Assert.InRange(transactional, 70, 130);
    }
}
