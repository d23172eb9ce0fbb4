using System.Globalization;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Sim.Trace;

namespace DetKafka.Sim.World;

// A cluster run (SimulationOptions.IsCluster): every node is a voter of the controller quorum and a replica of the
// workload's topic; node-to-node traffic (Vote, BeginQuorumEpoch, the replicas' Fetch) goes through SimNetwork like
// client traffic, so every network fault applies to it. Start-up cannot create the topic synchronously: the quorum
// first elects a controller, so the world proposes the topic at whichever node is controller (retrying every
// 100 ms through crashes and partitions) and starts the clients once a node has applied it.
public sealed partial class SimWorld
{
    private const long CreateTopicRetryUs = 100_000;

    private static IReadOnlyList<QuorumVoter> ClusterVoters(SimulationOptions options)
        => options.IsCluster
            ? Enumerable.Range(1, options.Nodes).Select(i => new QuorumVoter(i, "n" + i.ToString(CultureInfo.InvariantCulture), BrokerPort)).ToList()
            : [];

    /// <summary>What the cluster checks observe at the clients (null in a single-node run).</summary>
    public Invariants.ClusterObserver? Cluster { get; }

    /// <summary>When the workload topic was first seen applied at a node (virtual us), or -1.</summary>
    public long TopicReadyAtUs { get; private set; } = -1;

    private void BootCluster()
    {
        foreach (var node in _nodes) node.Disk.LyingFsync = Options.LyingDisk;
        Schedule(CreateTopicRetryUs, "world", "create-topic", () => CreateClusterTopic());
    }

    /// <summary>A cluster that has not created its topic by then (no controller elected without faults: a bug) heals
    /// and goes to the liveness phase, which reports what is missing.</summary>
    private const long CreateTopicGiveUpUs = 60_000_000;

    /// <summary>One attempt: done when a node has applied the topic (then the clients start); else propose it at the
    /// controller, if one is up, and look again in 100 ms.</summary>
    private TraceDetails CreateClusterTopic()
    {
        var w = Options.Workload;
        foreach (var node in _nodes)
        {
            if (node.Broker?.FindTopic(w.Topic) is null) continue;
            TopicReadyAtUs = NowUs;
            // The safety phase starts now: faults while the quorum first forms would mostly delay the workload.
            Nemesis.Start(NowUs + Options.SafetyPhaseMs * 1000);
            Schedule(NowUs + Options.SafetyPhaseMs * 1000, "nemesis", "heal", () => Heal());
            foreach (var host in _clients)
            {
                long start = NowUs + Workload.Random.NextInt(0, 50_000);
                int incarnation = host.Incarnation;
                Schedule(start, host.Name, "client-start", () => host.Incarnation == incarnation && !host.IsUp ? Workload.StartProcess(host) : null);
            }
            return Details($"topic {w.Topic} applied at {node.Name}; clients start");
        }
        if (NowUs >= CreateTopicGiveUpUs) return Details($"topic {w.Topic} not created after {CreateTopicGiveUpUs / 1000} ms: {Heal()}");
        Schedule(NowUs + CreateTopicRetryUs, "world", "create-topic", () => CreateClusterTopic());
        foreach (var node in _nodes)
        {
            if (node.Paused || node.Broker is not { IsController: true }) continue;
            var broker = BeginNodeInput(node)!;
            var configs = w.TopicConfigs.Select(kv => new KeyValuePair<string, string?>(kv.Key, kv.Value)).ToList();
            var (error, message) = broker.ProposeTopic(w.Topic, w.Partitions, Options.ReplicationFactor, configs);
            EndNodeInput(node);
            if (error is not (ErrorCode.None or ErrorCode.TopicAlreadyExists or ErrorCode.NotController or ErrorCode.ThrottlingQuotaExceeded))
                throw new InvalidOperationException($"creating the workload topic at {node.Name}: {error} {message}");
            return Details($"proposed at {node.Name}: {error}");
        }
        return "no controller yet";
    }

    /// <summary>Downtime of a node that stopped on a storage error before its supervisor restarts it.</summary>
    private const long FailStopRestartMs = 1_000;

    /// <summary>A write the disk refused (ENOSPC on the metadata or a partition's Raft log) throws StorageException out
    /// of the broker; the host's driver stops the process on any exception (BrokerDriver.Run: "Broker node failed;
    /// stopping"). The world does the same to the node that took the input, a crash, and restarts it a second later as
    /// a supervisor would: fail-stop, as Kafka treats a log directory failure.</summary>
    private TraceDetails FailStop(SimNode node, Core.Broker.StorageException failure)
    {
        Count("node.fail-stops-on-storage-error");
        string crashed = CrashNode(node, InLivenessPhase ? 0 : FailStopRestartMs);
        return Details($"{node.Name} stopped on a storage error ({failure.Message}): {crashed}");
    }

    /// <summary>The planted heal bug (ClusterBugs.HealLeavesNodeLinksCut): every link between two broker nodes stays cut.</summary>
    private void CutNodeLinksForever()
    {
        foreach (var a in _nodes)
            foreach (var b in _nodes)
                if (a != b) Network.Link(a, b).CutUntilUs = long.MaxValue;
    }
}
