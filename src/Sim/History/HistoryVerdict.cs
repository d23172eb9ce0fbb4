using System.Globalization;
using DetKafka.Core.Storage;
using DetKafka.Sim.Checkers;

namespace DetKafka.Sim.History;

/// <summary>
/// Judges a finished run's history against what the run's configuration promised. Returns one line per
/// forbidden anomaly found (empty: the history is fine). The runner calls it once, after the liveness phase.
/// </summary>
public delegate IReadOnlyList<string> HistoryJudge(History history, SimulationOptions options);

public static class HistoryVerdict
{
    /// <summary>Lines reported at most, so a badly broken run stays readable.</summary>
    public const int ProblemsMax = 20;

    /// <summary>The judge <see cref="Simulation.Run"/> uses unless told otherwise: the Jepsen-style
    /// <see cref="HistoryChecker"/> with the promises the run's configuration makes.</summary>
    public static HistoryJudge Default { get; } = Judge;

    /// <summary>
    /// What a simulated run promises. Acknowledged sends (Ok with an offset: acks=1 or all) are durable because
    /// the broker syncs before it answers, unless the workload relaxed flush.messages/flush.ms on its topic;
    /// acks=0 sends complete as Info, so they may be lost but a value read must still have been sent. Producers
    /// retry; without idempotence duplicates are allowed, with it (all producers of a run, at acks=all) they are not. Consumers assign, and the liveness phase has them
    /// read to the end, so every acknowledged value must have been read (unseen is forbidden).
    /// </summary>
    public static CheckerOptions OptionsFor(SimulationOptions options)
    {
        var relaxed = LogConfig.TryParse(options.Workload.TopicConfigs.Select(kv => new KeyValuePair<string, string?>(kv.Key, kv.Value)),
            out var config, out _) && config.IsRelaxedDurability;
        // A cluster with acks=1 producers: a leader's own ack is lost when a replica without the write takes over, so
        // the history checker allows lost writes there, and the cluster check acks-all-lost holds acks=all sends to
        // their promise (src/Sim/Invariants/ClusterChecks.cs).
        bool leaderAcksMayBeLost = options.IsCluster && options.Workload.Producers.Any(p => p.Acks != -1);
        return new CheckerOptions
        {
            Acks = leaderAcksMayBeLost ? ProducerAcks.Leader : ProducerAcks.All,
            LeaderAckIsDurable = !relaxed && !leaderAcksMayBeLost,
            Idempotence = options.Workload.Producers.Count > 0 && options.Workload.Producers.All(p => p.Idempotence),
            // Transactional producers (Workload.Transactions.cs): a Fail transaction is an abort, which consumers at
            // read_committed must never see.
            Transactions = options.Workload.Producers.Any(p => p.Transactional),
            Isolation = options.Workload.Producers.Any(p => p.Transactional) && options.Workload.Consumers.Count > 0
                        && options.Workload.Consumers.All(c => c.IsolationLevel == 1)
                ? IsolationLevel.ReadCommitted : IsolationLevel.ReadUncommitted,
            Consumers = ConsumerMode.Assign,
            FinalReadsComplete = true,
        };
    }

    public static IReadOnlyList<string> Judge(History history, SimulationOptions options)
    {
        var result = HistoryChecker.Check(history, OptionsFor(options));
        var problems = new List<string>();
        if (!result.IsValid)
            problems.Add("forbidden anomalies: " + string.Join(", ", result.ForbiddenCounts.Where(kv => kv.Value > 0)
                .OrderBy(kv => Severity(kv.Key)).Select(kv => string.Create(CultureInfo.InvariantCulture, $"{kv.Key} x{kv.Value}"))));
        // Loss first: one lost write explains the reused offsets and the nonmonotonic sends and polls that follow it.
        foreach (var anomaly in result.Anomalies.Where(a => a.Forbidden).OrderBy(a => Severity(a.Name)))
        {
            if (problems.Count == ProblemsMax) break;
            problems.Add(string.Create(CultureInfo.InvariantCulture,
                $"{anomaly.Name}: {anomaly.Explanation} (ops {string.Join(",", anomaly.Operations.Take(8))})"));
        }
        return problems;
    }

    private static int Severity(string name) => name switch
    {
        AnomalyNames.LostWrite => 0,
        AnomalyNames.InconsistentOffsets => 1,
        AnomalyNames.Unseen => 2,
        AnomalyNames.InventedValue => 3,
        AnomalyNames.G1a => 4,
        AnomalyNames.Duplicate => 5,
        _ => 10,
    };
}
