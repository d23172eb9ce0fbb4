using System.Globalization;

namespace DetKafka.Sim;

/// <summary>
/// Bugs planted on purpose in a replicated cluster run (test-only, never drawn): each one is a mistake one of the
/// cluster checks (src/Sim/Invariants/ClusterChecks.cs) must catch; tests/properties/Sim/ClusterSweepTests shows the
/// seed where each is caught. Each maps to a BrokerConfig.TestOnly... switch, a per-thread Core switch, or (for the
/// recovery check, whose subject is the harness's heal) a switch of the simulated world.
/// </summary>
[Flags]
public enum ClusterBugs
{
    None = 0,

    /// <summary>acks=all is answered at the leader's own sync, before a majority has the batch
    /// (BrokerConfig.TestOnlyAnswerAcksAllAtLeaderSync): caught by acks-all-lost.</summary>
    AcksAllAtLeaderSync = 1,

    /// <summary>A consumer's fetch is served up to the log end instead of the high watermark
    /// (Partition.ReadToLogEndForTests, per thread): caught by read-above-high-watermark.</summary>
    ReadAboveHighWatermark = 2,

    /// <summary>A follower corrupts one record value of a batch it appends and re-seals the CRC
    /// (UnifiedRaftLog.CorruptFollowerAppendsForTests, per thread): caught by replicas-agree-below-high-watermark.</summary>
    CorruptFollowerAppend = 4,

    /// <summary>The quorum-state store forgets a write the disk refused (ENOSPC) and reports the next sync durable, the bug
    /// this swarm found (DiskQuorumStateStore.ForgetRefusedWritesForTests, per thread): a restarted voter votes twice in
    /// one epoch, caught by one-leader-per-epoch.</summary>
    ForgetRefusedQuorumStateWrite = 8,

    /// <summary>The heal leaves the links between broker nodes cut (the world's heal, not the broker): caught by
    /// cluster-recovers.</summary>
    HealLeavesNodeLinksCut = 16,
}

public sealed partial record SimulationOptions
{
    /// <summary>Default broker nodes of a cluster run (<c>--cluster</c> without a number).</summary>
    public const int DefaultClusterNodes = 3;

    /// <summary>A cluster run (<see cref="DrawCluster"/>): the nodes form a controller quorum (every node a voter) and
    /// the workload's topic is replicated (<see cref="ReplicationFactor"/>) through the peer transport, over the
    /// simulated network. Without it, several nodes are independent single-node brokers (the peer-network tests).</summary>
    public bool IsCluster { get; init; }

    /// <summary>The workload topic's replication factor (cluster runs).</summary>
    public int ReplicationFactor { get; init; } = 1;

    /// <summary>The workload topic's min.insync.replicas (cluster runs).</summary>
    public int MinInsyncReplicas { get; init; } = 1;

    /// <summary>After the heal, every partition has a leader within this many virtual ms (the cluster-recovers check).</summary>
    public long ClusterRecoveryBoundMs { get; init; } = 30_000;

    /// <summary>Test-only bugs of a cluster run; never drawn.</summary>
    public ClusterBugs ClusterBugs { get; init; }

    /// <summary>
    /// The cluster swarm: <see cref="Draw"/>'s faults, timings and producers for <paramref name="seed"/>, on
    /// <paramref name="nodes"/> broker nodes, with the workload topic at replication factor min(3, nodes) and
    /// min.insync.replicas 2. What the cluster cannot run yet is left out (and SIMULATION.md says so): the admin
    /// workload, consumer groups, idempotent and transactional producers (producer ids and coordinators at a
    /// non-controller node: issue 7's step 6, the coordinator work). Producers use acks=all or acks=1 as drawn
    /// (acks=0 becomes acks=1).
    /// </summary>
    public static SimulationOptions DrawCluster(ulong seed, int nodes = DefaultClusterNodes)
    {
        if (nodes < 2 || nodes > 9) throw new ArgumentOutOfRangeException(nameof(nodes), "a cluster run has 2 to 9 nodes");
        var o = Draw(seed);
        var w = o.Workload;
        int rf = Math.Min(3, nodes);
        var configs = new SortedDictionary<string, string>(w.TopicConfigs.ToDictionary(kv => kv.Key, kv => kv.Value), StringComparer.Ordinal)
        {
            ["min.insync.replicas"] = Math.Min(2, rf).ToString(CultureInfo.InvariantCulture),
        };
        return o with
        {
            Nodes = nodes,
            IsCluster = true,
            ReplicationFactor = rf,
            MinInsyncReplicas = Math.Min(2, rf),
            Admin = null,
            Workload = w with
            {
                Group = null,
                TopicConfigs = configs,
                Producers = w.Producers.Select(p => p with { Acks = p.Acks == 0 ? (short)1 : p.Acks, Idempotence = false, Transactional = false }).ToList(),
                Consumers = w.Consumers.Where(c => c.GroupMember < 0).Select(c => c with { IsolationLevel = 0 }).ToList(),
            },
        };
    }

    private string DescribeCluster() => string.Create(CultureInfo.InvariantCulture,
        $"controller quorum of {Nodes} voters, replication.factor={ReplicationFactor} min.insync.replicas={MinInsyncReplicas} recovery-bound={ClusterRecoveryBoundMs}ms{(ClusterBugs == ClusterBugs.None ? "" : " planted=" + ClusterBugs)}");
}

/// <summary>The CLI names of <see cref="ClusterBugs"/> (kebab case: "acks-all-at-leader-sync").</summary>
public static class ClusterBugNames
{
    public static IReadOnlyList<string> All { get; } =
        Enum.GetValues<ClusterBugs>().Where(b => b != ClusterBugs.None).Select(Kebab).ToList();

    public static string Kebab(ClusterBugs bug) => ToKebab(bug.ToString());

    private static string ToKebab(string s)
    {
        var b = new System.Text.StringBuilder(s.Length + 4);
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsUpper(s[i]) && i > 0) b.Append('-');
            b.Append(char.ToLowerInvariant(s[i]));
        }
        return b.ToString();
    }

    public static bool TryParse(string name, out ClusterBugs bug)
    {
        foreach (var b in Enum.GetValues<ClusterBugs>())
            if (b != ClusterBugs.None && ToKebab(b.ToString()) == name)
            {
                bug = b;
                return true;
            }
        bug = ClusterBugs.None;
        return false;
    }
}
