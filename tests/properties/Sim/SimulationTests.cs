using DetKafka.Sim;
using DetKafka.Sim.History;
using DetKafka.Sim.Invariants;
using DetKafka.Sim.Trace;
using Xunit;

namespace DetKafka.Properties.Sim;

/// <summary>Whole runs: determinism, the swarm passing on an honest disk, and the checks catching a lying one.</summary>
public class SimulationTests
{
    [Fact]
    public void The_same_seed_gives_a_byte_identical_trace()
    {
        var first = new ListTraceSink();
        var second = new ListTraceSink();
        var a = Simulation.Run(11, trace: first);
        var b = Simulation.Run(11, trace: second);
        Assert.Equal(a.TraceHash, b.TraceHash);
        Assert.Equal(a.Events, b.Events);
        Assert.Equal(first.Records.Select(r => r.ToJson()), second.Records.Select(r => r.ToJson()));
        Assert.Equal(a.History.Operations.Count, b.History.Operations.Count);
        Assert.True(first.Records.Count > 1000);
    }

    [Fact]
    public void The_hash_is_the_same_with_or_without_a_sink()
    {
        // Without a sink the details are digested part by part and never formatted; with one they are also
        // formatted. The digest must not depend on which.
        foreach (ulong seed in new ulong[] { 3, 11, 40 })
        {
            var sink = new ListTraceSink();
            Assert.Equal(Simulation.Run(seed).TraceHash, Simulation.Run(seed, trace: sink).TraceHash);
            Assert.Contains(sink.Records, r => r.Kind == "send" && r.Details.Contains(" request #", StringComparison.Ordinal));
            Assert.Contains(sink.Records, r => r.Kind == "deliver" && r.Details.EndsWith(" bytes", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void The_swarm_draws_every_codec_and_compression_type_and_a_recompressing_run_passes_deterministically()
    {
        var drawn = Enumerable.Range(1, 300).Select(s => (Seed: (ulong)s, Options: SimulationOptions.Draw((ulong)s))).ToList();
        var codecs = drawn.SelectMany(d => d.Options.Workload.Producers.Select(p => p.Compression)).ToHashSet();
        Assert.Equal(5, codecs.Count);
        var types = drawn.Select(d => d.Options.Workload.TopicConfigs.GetValueOrDefault("compression.type", "producer")).ToHashSet();
        Assert.Equal(DetKafka.Core.Storage.LogConfig.CompressionTypes.Order(), types.Order());

        // A run whose producers compress with one codec while the topic stores another: the broker recompresses.
        var seed = drawn.First(d => d.Options.Workload.TopicConfigs.TryGetValue("compression.type", out var t) && t is not ("producer" or "uncompressed")
            && d.Options.Workload.Producers.Any(p => p.Compression != Core.Records.CompressionCodec.None
                && Core.Records.Compression.CompressionCodecs.NameOf(p.Compression) != t)).Seed;
        var a = Simulation.Run(seed);
        var b = Simulation.Run(seed);
        Assert.True(a.Passed, a.Summary() + "\n" + string.Join("\n", a.HistoryProblems));
        Assert.Equal(a.TraceHash, b.TraceHash);
    }

    [Fact]
    public void Different_seeds_give_different_runs()
    {
        var hashes = Enumerable.Range(21, 5).Select(s => Simulation.Run((ulong)s).TraceHash).ToList();
        Assert.Equal(hashes.Count, hashes.Distinct().Count());
    }

    [Fact]
    public void Options_are_a_function_of_the_seed()
    {
        Assert.Equal(SimulationOptions.Draw(5).Describe(), SimulationOptions.Draw(5).Describe());
        Assert.NotEqual(SimulationOptions.Draw(5).Describe(), SimulationOptions.Draw(6).Describe());
        var forced = SimulationOptions.Draw(5).WithoutFaults().Force(FaultKind.Crash, 5);
        Assert.Equal([FaultKind.Crash], forced.EnabledFaults);
        Assert.True(FaultNames.TryParse("asymmetric-partition", out var kind) && kind == FaultKind.AsymmetricPartition);
    }

    [Fact]
    public void Twenty_seeds_pass_on_an_honest_disk_and_every_fault_fires()
    {
        var enabled = new HashSet<FaultKind>();
        var fired = new SortedDictionary<string, long>(StringComparer.Ordinal);
        for (ulong seed = 1; seed <= 20; seed++)
        {
            var result = Simulation.Run(seed);
            Assert.True(result.Passed, result.Summary() + "\n" + string.Join("\n", result.HistoryProblems));
            // A quarter of the draws are transactional (issue 10): their sends are Transaction operations.
            Assert.Contains(result.History.Operations, o => o.Kind is OpKind.Send or OpKind.Transaction && o.Type == OpType.Ok);
            enabled.UnionWith(result.Options.EnabledFaults);
            foreach (var (name, count) in result.Counters) fired[name] = fired.GetValueOrDefault(name) + count;
        }
        Assert.Equal(FaultNames.All.Count, enabled.Count);
        foreach (var kind in new[]
                 {
                     FaultKind.Loss, FaultKind.Clog, FaultKind.Partition, FaultKind.AsymmetricPartition, FaultKind.ClientPartition,
                     FaultKind.ConnectionReset, FaultKind.Crash, FaultKind.Pause, FaultKind.ClientCrash, FaultKind.BitFlip,
                     FaultKind.MisdirectedWrite, FaultKind.SlowFsync, FaultKind.DiskFull, FaultKind.ClockJump,
                 })
            Assert.True(fired.GetValueOrDefault("fault." + FaultNames.Name(kind)) > 0, FaultNames.Name(kind) + " never fired");
        foreach (var effect in new[]
                 {
                     "net.segments-tail-delayed", "net.transmissions-dropped-partition", "net.transmissions-dropped-loss",
                     "net.segments-clogged", "node.inputs-deferred-by-pause", "disk.unsynced-bytes-lost",
                     "disk.crash-kept-partial-tails", "disk.enospc-writes", "disk.misdirected-writes", "disk.slow-fsyncs",
                     "disk.index-bits-flipped", "clock.jumps", "client.crashes", "net.segments-held-backpressure",
                 })
            Assert.True(fired.GetValueOrDefault(effect) > 0, effect + " never happened");
    }

    private static SimulationOptions Lying(ulong seed, bool invariants)
        => (NonTransactional(SimulationOptions.Draw(seed)) with { LyingDisk = true, CheckNodeInvariants = invariants }).Force(FaultKind.Crash, seed);

    /// <summary>The draw with plain (non-transactional) producers: the lying-disk bar is about an acks=all workload.</summary>
    internal static SimulationOptions NonTransactional(SimulationOptions drawn) => drawn with
    {
        Workload = drawn.Workload with { Producers = drawn.Workload.Producers.Select(p => p with { Transactional = false }).ToList() },
    };

    [Fact]
    public void A_lying_disk_loses_acknowledged_writes_and_the_end_check_says_so()
    {
        // The issue's bar: an acks=all workload on a disk that lies about fsync, with crashes, is reported as
        // lost-write within the seed budget. A seed whose lost values had already been read shows the loss as
        // inconsistent-offsets instead (the offsets were handed out again); either way it must not pass silently.
        int caught = 0;
        for (ulong seed = 1; seed <= 30; seed++)
        {
            var result = Simulation.Run(seed, Lying(seed, invariants: false));
            if (result.Verdict == Verdict.Pass) continue; // no crash landed while acknowledged data was unsynced
            Assert.Equal(Verdict.SafetyViolation, result.Verdict);
            Assert.Equal("history", result.FirstViolation!.Checker);
            Assert.Contains(result.HistoryProblems, p => p.StartsWith("forbidden anomalies:", StringComparison.Ordinal)
                && (p.Contains("lost-write", StringComparison.Ordinal) || p.Contains("inconsistent-offsets", StringComparison.Ordinal)));
            if (result.HistoryProblems.Any(p => p.StartsWith("lost-write", StringComparison.Ordinal))) return;
            caught++;
        }
        Assert.Fail($"no seed in the budget was reported as lost-write ({caught} showed other loss anomalies)");
    }

    [Fact]
    public void A_lying_disk_trips_the_node_invariants_first_when_they_run()
    {
        for (ulong seed = 1; seed <= 10; seed++)
        {
            var result = Simulation.Run(seed, Lying(seed, invariants: true));
            if (result.Verdict == Verdict.Pass) continue;
            Assert.Equal(Verdict.InvariantViolation, result.Verdict);
            Assert.Contains(result.FirstViolation!.Checker, new[] { "high-watermark-monotonic", "acknowledged-below-log-end", "recovered-logs-valid" });
            Assert.True(result.FirstViolation.EventIndex > 0 && result.FirstViolation.EventIndex == result.Events);
            return;
        }
        Assert.Fail("no seed in the budget caught the lying disk");
    }

    [Fact]
    public void The_history_checker_and_invariants_are_pluggable()
    {
        var flagged = Simulation.Run(3, historyChecker: (history, _) => history.Operations.Count > 0 ? ["every history is suspect"] : []);
        Assert.Equal(Verdict.SafetyViolation, flagged.Verdict);
        Assert.Equal("history", flagged.FirstViolation!.Checker);

        var thrown = Simulation.Run(3, historyChecker: (_, _) => throw new InvalidOperationException("checker bug"));
        Assert.Equal(Verdict.Crash, thrown.Verdict);
        Assert.IsType<InvalidOperationException>(thrown.Exception);

        var tripped = Simulation.Run(3, invariants: [new TripAt(500)]);
        Assert.Equal(Verdict.InvariantViolation, tripped.Verdict);
        Assert.Equal(500, tripped.FirstViolation!.EventIndex);
        Assert.Equal("trip", tripped.FirstViolation.Checker);
    }

    private sealed class TripAt(long eventIndex) : IInvariantChecker
    {
        public string Name => "trip";
        public string? Check(InvariantContext context) => context.EventIndex == eventIndex ? "tripped" : null;
    }

    [Fact]
    public void The_recovered_log_check_rejects_a_torn_segment()
    {
        var batch = DetKafka.Core.Records.RecordBatchBuilder.Build(1_000, DetKafka.Core.Records.CompressionCodec.None, [1, 2, 3], [4]);
        Assert.Null(RecoveredLogsValid.Validate(batch, 0));
        Assert.NotNull(RecoveredLogsValid.Validate(batch.AsSpan(0, batch.Length - 3), 0));
        var flipped = (byte[])batch.Clone();
        flipped[^1] ^= 0x10;
        Assert.NotNull(RecoveredLogsValid.Validate(flipped, 0));
        Assert.NotNull(RecoveredLogsValid.Validate(batch, 5)); // offsets must continue from the segment's base
    }
}
