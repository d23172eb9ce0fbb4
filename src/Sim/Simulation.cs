using System.Globalization;
using System.Text;
using DetKafka.Core.Util;
using DetKafka.Sim.History;
using DetKafka.Sim.Invariants;
using DetKafka.Sim.Trace;
using DetKafka.Sim.World;
using SimHistory = DetKafka.Sim.History.History;

namespace DetKafka.Sim;

/// <summary>How a run ended. Pass: the liveness phase reached its goal and the history checker found nothing.</summary>
public enum Verdict
{
    Pass,

    /// <summary>The history checker reported anomalies (lost or inconsistent writes, ...).</summary>
    SafetyViolation,

    /// <summary>After the heal, some client did not progress or some write was not read within the bound
    /// (or the event budget ran out).</summary>
    LivenessFailure,

    /// <summary>A node-state invariant checker failed after some event.</summary>
    InvariantViolation,

    /// <summary>Something threw: a Core assertion (InvariantViolationException), a bug in a handler, the simulator.</summary>
    Crash,
}

/// <summary>The first thing that went wrong: at which event, which checker (or "exception", "liveness",
/// "history"), and what.</summary>
public sealed record Violation(long EventIndex, long TimeUs, string Checker, string Message)
{
    public override string ToString()
        => string.Create(CultureInfo.InvariantCulture, $"event {EventIndex} at {TimeUs / 1000.0:0.###} ms: [{Checker}] {Message}");
}

/// <summary>Everything a run produced. <see cref="TraceHash"/> identifies the run's whole trace: same seed and
/// options, same hash, in any process.</summary>
public sealed record SimulationResult(
    ulong Seed,
    SimulationOptions Options,
    Verdict Verdict,
    Violation? FirstViolation,
    Exception? Exception,
    IReadOnlyList<string> HistoryProblems,
    SimHistory History,
    long Events,
    long VirtualTimeMs,
    ulong TraceHash,
    IReadOnlyDictionary<string, long> Counters)
{
    public bool Passed => Verdict == Verdict.Pass;

    /// <summary>One line: seed, verdict, events, virtual time, trace hash, and the first violation.</summary>
    public string Summary()
    {
        var b = new StringBuilder();
        b.Append(CultureInfo.InvariantCulture, $"seed {Seed}: {Verdict}, {Events} events, {VirtualTimeMs} ms virtual, trace {TraceHash:x16}");
        if (FirstViolation is { } v) b.Append(" - ").Append(v);
        return b.ToString();
    }
}

/// <summary>
/// Runs one seed: boot, safety phase (faults on), heal, liveness phase (every client must progress and every
/// acknowledged write must be read within <see cref="SimulationOptions.LivenessBoundMs"/>), then the history
/// checker. Node-state invariants run after every event. A pure function of (seed, options): run it again to
/// replay.
/// </summary>
public static class Simulation
{
    public static SimulationResult Run(ulong seed, SimulationOptions? options = null, ITraceSink? trace = null,
        HistoryJudge? historyChecker = null, IReadOnlyList<IInvariantChecker>? invariants = null)
    {
        options ??= SimulationOptions.Draw(seed);
        // The planted cleaner bug is a per-thread storage switch: set for this run only.
        var cleanerBreak = Core.Storage.LogCleaner.BreakForTests;
        if (options.PlantedBugs.HasFlag(Reach.PlantedBugs.CleanerDropsLatest)) Core.Storage.LogCleaner.BreakForTests = Core.Storage.CleanerBreak.DropLatest;
        bool trustIndexes = Core.Storage.LogSegment.TrustIndexesForTests;
        if (options.PlantedBugs.HasFlag(Reach.PlantedBugs.TrustedDamagedIndex)) Core.Storage.LogSegment.TrustIndexesForTests = true;
        bool readToLogEnd = Core.Partitions.Partition.ReadToLogEndForTests;
        if (options.ClusterBugs.HasFlag(ClusterBugs.ReadAboveHighWatermark)) Core.Partitions.Partition.ReadToLogEndForTests = true;
        bool corruptFollower = Core.Storage.UnifiedRaftLog.CorruptFollowerAppendsForTests;
        if (options.ClusterBugs.HasFlag(ClusterBugs.CorruptFollowerAppend)) Core.Storage.UnifiedRaftLog.CorruptFollowerAppendsForTests = true;
        bool forgetQuorumWrites = Core.Raft.DiskQuorumStateStore.ForgetRefusedWritesForTests;
        if (options.ClusterBugs.HasFlag(ClusterBugs.ForgetRefusedQuorumStateWrite)) Core.Raft.DiskQuorumStateStore.ForgetRefusedWritesForTests = true;
        try
        {
            return RunWorld(seed, options, trace, historyChecker, invariants);
        }
        finally
        {
            Core.Storage.LogCleaner.BreakForTests = cleanerBreak;
            Core.Storage.LogSegment.TrustIndexesForTests = trustIndexes;
            Core.Partitions.Partition.ReadToLogEndForTests = readToLogEnd;
            Core.Storage.UnifiedRaftLog.CorruptFollowerAppendsForTests = corruptFollower;
            Core.Raft.DiskQuorumStateStore.ForgetRefusedWritesForTests = forgetQuorumWrites;
        }
    }

    private static SimulationResult RunWorld(ulong seed, SimulationOptions options, ITraceSink? trace,
        HistoryJudge? historyChecker, IReadOnlyList<IInvariantChecker>? invariants)
    {
        historyChecker ??= HistoryVerdict.Default;
        invariants ??= options.IsCluster ? ClusterChecks.Invariants() : InvariantCheckers.Default();
        var world = new SimWorld(seed, options, trace);
        var context = new InvariantContext(world);
        Violation? violation = null;
        Exception? exception = null;
        var verdict = Verdict.Pass;
        IReadOnlyList<string> historyProblems = [];

        Violation At(string checker, string message) => new(world.EventIndex, world.NowUs, checker, message);

        try
        {
            world.Boot();
            while (true)
            {
                if (world.EventIndex >= options.MaxEvents)
                {
                    verdict = Verdict.LivenessFailure;
                    violation = At("liveness", $"event budget of {options.MaxEvents} exhausted");
                    break;
                }
                if (world.InLivenessPhase && world.NextEventTimeUs > world.HealedAtUs + options.LivenessBoundMs * 1000)
                {
                    verdict = Verdict.LivenessFailure;
                    var gaps = world.Workload.LivenessGaps();
                    violation = At("liveness", $"not done {options.LivenessBoundMs} ms after the heal: {string.Join("; ", gaps.Take(8))}");
                    break;
                }
                if (!world.Step())
                {
                    verdict = Verdict.LivenessFailure;
                    violation = At("liveness", "nothing left to happen before the goal was reached");
                    break;
                }
                if (options.CheckNodeInvariants)
                {
                    for (int i = 0; i < invariants.Count; i++)
                    {
                        var checker = invariants[i];
                        if (checker.Check(context) is not { } message) continue;
                        verdict = Verdict.InvariantViolation;
                        violation = At(checker.Name, message);
                        break;
                    }
                    if (violation is not null) break;
                }
                if (world.InLivenessPhase && world.Workload.LivenessGoalMet())
                {
                    Check.That(world.Workload.LivenessGaps().Count == 0, "the fast and the descriptive liveness checks agree");
                    break;
                }
            }
        }
        catch (Exception e)
        {
            exception = e;
            verdict = Verdict.Crash;
            violation = At("exception", e.GetType().Name + ": " + e.Message);
        }

        if (verdict == Verdict.Pass && options.IsCluster && options.CheckNodeInvariants && ClusterChecks.Final(world) is { } clusterProblem)
        {
            verdict = Verdict.InvariantViolation;
            violation = At(clusterProblem.Checker, clusterProblem.Message);
        }
        if (verdict == Verdict.Pass && world.Groups?.FinalCheck(world) is { } groupProblem)
        {
            verdict = Verdict.InvariantViolation;
            violation = At("group-at-least-once", groupProblem);
        }
        if (verdict is Verdict.Pass or Verdict.LivenessFailure)
        {
            try
            {
                historyProblems = historyChecker(world.History, options);
                if (verdict == Verdict.Pass && historyProblems.Count > 0)
                {
                    verdict = Verdict.SafetyViolation;
                    violation = At("history", historyProblems[0]);
                }
            }
            catch (Exception e)
            {
                exception = e;
                verdict = Verdict.Crash;
                violation = At("history", "the history checker threw " + e.GetType().Name + ": " + e.Message);
            }
        }
        world.Note("world", "verdict", verdict + (violation is null ? "" : " " + violation));
        return new SimulationResult(seed, options, verdict, violation, exception, historyProblems, world.History,
            world.EventIndex, world.NowMs, world.TraceHash, new SortedDictionary<string, long>(world.Counters.ToDictionary(), StringComparer.Ordinal));
    }
}
