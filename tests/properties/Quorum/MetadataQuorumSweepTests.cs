using DetKafka.Core.Protocol;
using DetKafka.Core.Abstractions;
using Xunit;

namespace DetKafka.Properties.Quorum;

/// <summary>
/// A seeded sweep over a 3-node metadata quorum: an admin creates topics at nodes drawn from the seed while a nemesis
/// cuts one node off both ways, crashes nodes (unsynced writes lost) and restarts them. Checked after every action:
/// at most one controller per epoch and every node's applied metadata a prefix of every other's; at the end, after
/// the heal: every acknowledged creation exists on every node, and all nodes applied the same entries. The planted
/// bug (the controller answers on its local append, not on the quorum's commit) must turn it red.
/// </summary>
public class MetadataQuorumSweepTests(Xunit.Abstractions.ITestOutputHelper output)
{
    public static string? RunSeed(int seed, bool answerOnAppend, out int acked) => RunSeed(seed, answerOnAppend, Core.Raft.RaftPlantedBugs.None, out acked, out _);

    /// <param name="digest">Every node's applied entries, the virtual time and the acknowledged topics, hashed: two runs
    /// of a seed must agree on it (determinism).</param>
    public static string? RunSeed(int seed, bool answerOnAppend, Core.Raft.RaftPlantedBugs raftBugs, out int acked, out ulong digest)
    {
        digest = 0;
        var c = new QuorumCluster(3, seed, (_, config) => config.WithTestOnlyAnswerAdminOnAppend(answerOnAppend).WithRaftBugs(raftBugs));
        var random = new SeededRandom((ulong)seed * 7919 + 1);
        var leaders = new Dictionary<int, int>();
        var ackedTopics = new List<string>();
        acked = 0;
        for (int step = 0; step < 30; step++)
        {
            int action = (int)random.NextBelow(10);
            int node = (int)random.NextBelow(3);
            if (action < 5)
            {
                if (c.Nodes[node] is null) continue;
                // An admin client asks the node it knows for the controller (Metadata's ControllerId) and goes there.
                int known = c.Nodes[node]!.ControllerId - 1;
                if (action < 4 && known >= 0 && c.Nodes[known] is not null) node = known;
                string name = $"t{step}";
                var r = c.CreateTopic(node, name, 1 + (int)random.NextBelow(3), (short)(1 + random.NextBelow(3)), maxMs: 3_000);
                if (r?.ErrorCode == ErrorCode.None) ackedTopics.Add(name);
            }
            else if (action == 5) { for (int o = 0; o < 3; o++) if (o != node) c.Cut(node, o); c.RunFor(200 + (int)random.NextBelow(3_000)); }
            else if (action == 6) c.Heal();
            else if (action == 7) { if (c.Nodes[node] is not null && c.Nodes.Count(n => n is null) == 0) c.Crash(node); }
            else if (action == 8) { for (int i = 0; i < 3; i++) if (c.Nodes[i] is null) c.Start(i); }
            else c.RunFor(100 + (int)random.NextBelow(2_000));
            foreach (var n in c.Nodes)
            {
                if (n is not { IsController: true }) continue;
                int epoch = n.MetadataQuorum!.Epoch;
                if (leaders.TryGetValue(epoch, out int other) && other != n.Config.NodeId) return $"seed {seed}: two controllers in epoch {epoch}: {other} and {n.Config.NodeId}";
                leaders[epoch] = n.Config.NodeId;
            }
            if (c.CheckPrefixes() is { } diverged) return $"seed {seed}: {diverged}";
            if (c.DurabilityViolation is { } undurable) return $"seed {seed}: {undurable}";
        }
        c.Heal();
        for (int i = 0; i < 3; i++) if (c.Nodes[i] is null) c.Start(i);
        bool settled = c.Run(() => c.Controller() >= 0 && c.Nodes.All(n => n!.AppliedMetadataOffset == c.Nodes[c.Controller()]!.AppliedMetadataOffset
            && n.AppliedMetadataOffset + 1 == c.Nodes[c.Controller()]!.MetadataRaftLog!.LogEndOffset), 60_000);
        if (!settled) return $"seed {seed}: no agreement 60 s after the heal: {c.Describe()}";
        if (c.CheckPrefixes() is { } d) return $"seed {seed}: {d}";
        acked = ackedTopics.Count;
        ulong h = 14695981039346656037UL;
        void Mix(long v) { h = (h ^ (ulong)v) * 1099511628211UL; }
        Mix(c.Clock.MonotonicMs);
        foreach (var n in c.Nodes) foreach (var e in n!.AppliedMetadata) { Mix(e.Offset); Mix(e.Epoch); Mix(e.Crc); }
        foreach (var t in ackedTopics) foreach (char ch in t) Mix(ch);
        digest = h;
        foreach (var t in ackedTopics)
            foreach (var n in c.Nodes)
                if (n!.FindTopic(t) is null) return $"seed {seed}: acknowledged topic {t} is missing on node {n.Config.NodeId}";
        return null;
    }

    [Fact]
    public void A_seed_sweep_finds_no_violation()
    {
        int total = 0;
        for (int seed = 1; seed <= 60; seed++)
        {
            Assert.Null(RunSeed(seed, answerOnAppend: false, out int acked));
            total += acked;
        }
        output.WriteLine($"60 seeds, {total} acknowledged creations");
        Assert.True(total > 100, $"the sweep acknowledged only {total} creations");
    }

    [Fact]
    public void The_sweep_catches_a_controller_that_answers_on_its_local_append()
    {
        string? first = null;
        int red = 0;
        for (int seed = 1; seed <= 40; seed++)
        {
            var result = RunSeed(seed, answerOnAppend: true, out _);
            if (result is null) continue;
            red++;
            first ??= result;
        }
        output.WriteLine($"planted answer-on-append: {red} of 40 seeds red; first: {first}");
        Assert.NotNull(first);
        Assert.Contains("acknowledged topic", first);
    }

    [Fact]
    public void A_seed_replays_identically()
    {
        string Trace(int seed)
        {
            var result = RunSeed(seed, false, Core.Raft.RaftPlantedBugs.None, out int acked, out ulong digest);
            return $"{result}|{acked}|{digest:x16}";
        }
        Assert.Equal(Trace(5), Trace(5));
        Assert.Equal(Trace(17), Trace(17));
        Assert.NotEqual(Trace(5), Trace(17));
    }
}
