using DetKafka.Core.Protocol;
using DetKafka.Core.Records;
using DetKafka.Core.Storage;
using DetKafka.Sim;
using DetKafka.Sim.History;
using DetKafka.Sim.Invariants;
using DetKafka.Sim.Trace;
using DetKafka.Sim.World;
using Xunit;

namespace DetKafka.Properties.Sim;

/// <summary>
/// A small, quiet world for tests that inject one fault by hand: one node, one producer host (acks=all,
/// two workers), one consumer host, no swarm faults, and a safety phase long enough that the heal only
/// comes when a test asks for it. Invariants run after every event.
/// </summary>
internal sealed class SimScenario
{
    public static readonly TopicPartition Tp0 = new("jepsen", 0);

    public SimScenario(ulong seed = 7, Func<SimulationOptions, SimulationOptions>? adjust = null, int retries = int.MaxValue,
        short acks = -1, bool consumerResumes = true)
    {
        var options = SimulationOptions.Draw(seed).WithoutFaults() with
        {
            SafetyPhaseMs = 120_000,
            LivenessBoundMs = 60_000,
            TcpUserTimeoutMs = 3_000,
            TcpRtoMs = 100,
            LatencyMedianUs = 300,
            LatencySigma = 0.3,
            FsyncMedianUs = 1_000,
            Workload = new WorkloadOptions
            {
                Partitions = 1,
                Producers = [new ProducerSpec(acks, retries, Workers: 2, MaxInFlight: 3, LingerMs: 1, BatchRecordsMax: 4,
                    CompressionCodec.None, RequestTimeoutMs: 1_500, DeliveryTimeoutMs: 6_000, new Dictionary<ApiKey, short>())],
                Consumers = [new ConsumerSpec(FetchMaxWaitMs: 50, MaxPartitionFetchBytes: 65_536, IsolationLevel: 0,
                    ResumeAfterCrash: consumerResumes, RequestTimeoutMs: 2_000, new Dictionary<ApiKey, short>())],
                ThinkTimeMeanMs = 5,
                PollWindowMs = 40,
                TopicConfigs = new SortedDictionary<string, string>(StringComparer.Ordinal)
                {
                    ["segment.bytes"] = "2048",
                    ["index.interval.bytes"] = "64",
                },
            },
        };
        Options = adjust is null ? options : adjust(options);
        World = new SimWorld(seed, Options, Trace);
        World.Boot();
    }

    public SimulationOptions Options { get; }
    public SimWorld World { get; }
    public ListTraceSink Trace { get; } = new();
    public IReadOnlyList<IInvariantChecker> Invariants { get; } = InvariantCheckers.Default();

    public SimNode Node => World.Nodes[0];
    public ClientHost Producer => World.Clients[0];
    public ClientHost Consumer => World.Clients[1];
    public long NowMs => World.NowMs;

    /// <summary>Runs every event up to <paramref name="ms"/> of virtual time, checking the invariants after each.</summary>
    public void RunUntil(long ms)
    {
        var context = NewContext();
        while (World.NextEventTimeUs <= ms * 1000 && World.Step())
        {
            foreach (var checker in Invariants)
                if (checker.Check(context) is { } problem) Assert.Fail($"[{checker.Name}] at event {World.EventIndex}: {problem}");
        }
    }

    /// <summary>Heals, then runs until the liveness goal holds (or fails after the bound).</summary>
    public void HealAndSettle()
    {
        World.Heal();
        long bound = World.NowMs + Options.LivenessBoundMs;
        var context = NewContext();
        while (World.Workload.LivenessGaps().Count > 0)
        {
            Assert.True(World.NowMs < bound, "not settled: " + string.Join("; ", World.Workload.LivenessGaps()));
            Assert.True(World.Step(), "ran out of events");
            foreach (var checker in Invariants)
                if (checker.Check(context) is { } problem) Assert.Fail($"[{checker.Name}] at event {World.EventIndex}: {problem}");
        }
        var problems = HistoryVerdict.Judge(World.History, Options);
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    private InvariantContext NewContext() => new(World);

    public IEnumerable<Operation> Ops(OpKind kind, OpType type) => World.History.Operations.Where(o => o.Kind == kind && o.Type == type);

    public int OkSendsBetween(long fromMs, long toMs) => Ops(OpKind.Send, OpType.Ok).Count(o => o.TimeMs > fromMs && o.TimeMs < toMs);

    public UnifiedLog Log0 => Node.Broker!.FindLog(Tp0.Topic, Tp0.Partition)!;

    public IEnumerable<TraceRecord> Notes(string kind) => Trace.Records.Where(r => r.Kind == kind);
}
