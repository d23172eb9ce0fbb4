using System.Globalization;
using System.Text;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Records;
using DetKafka.Core.Storage;

namespace DetKafka.Sim;

/// <summary>
/// Every fault the simulator can inject, by name. <see cref="SimulationOptions.Draw"/> enables a random subset
/// per seed (swarm testing: a seed that never partitions explores crash paths more deeply, and the reverse).
/// The CLI names them in kebab case (<see cref="FaultNames"/>).
/// </summary>
public enum FaultKind
{
    // network
    Delay,
    Loss,
    Clog,
    Partition,
    AsymmetricPartition,
    ClientPartition,
    ConnectionReset,

    // process
    Crash,
    Pause,
    ClientCrash,

    // disk
    TornWrite,
    BitFlip,
    MisdirectedWrite,
    SlowFsync,
    DiskFull,

    // clock
    ClockSkew,
    ClockDrift,
    ClockJump,

    // added with the simulator's reach (issue 14); last, so every other draw of a seed is unchanged
    ClientPause,
    FsyncError,

    // added for recovery paths (issue 14); last, so every other draw of a seed is unchanged
    DerivedFileDamage,

    // added for KIP-890 part 2 (issue 10); last, so every other draw of a seed is unchanged
    DelayedEndTxn,
}

public static class FaultNames
{
    public static IReadOnlyList<FaultKind> All { get; } = Enum.GetValues<FaultKind>();

    /// <summary>kebab-case name: AsymmetricPartition is "asymmetric-partition".</summary>
    public static string Name(FaultKind kind)
    {
        var s = kind.ToString();
        var b = new StringBuilder(s.Length + 4);
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsUpper(s[i]) && i > 0) b.Append('-');
            b.Append(char.ToLowerInvariant(s[i]));
        }
        return b.ToString();
    }

    public static bool TryParse(string name, out FaultKind kind)
    {
        foreach (var k in All)
        {
            if (Name(k) == name)
            {
                kind = k;
                return true;
            }
        }
        kind = default;
        return false;
    }
}

/// <summary>
/// One fault's setting for a run. Episodic faults start at <see cref="RatePerSecond"/> (a Poisson process in
/// virtual time, safety phase only) and each episode lasts a duration drawn uniformly from
/// [<see cref="DurationMinMs"/>, <see cref="DurationMaxMs"/>]. <see cref="Intensity"/> means something per fault
/// (docs/design/SIMULATION.md lists each): a probability, a multiplier or a magnitude.
/// </summary>
public sealed record FaultSpec(bool Enabled, double RatePerSecond, long DurationMinMs, long DurationMaxMs, double Intensity)
{
    public static FaultSpec Off { get; } = new(false, 0, 0, 0, 0);

    public override string ToString() => Enabled
        ? string.Create(CultureInfo.InvariantCulture, $"on rate={RatePerSecond:0.###}/s duration={DurationMinMs}-{DurationMaxMs}ms intensity={Intensity:0.####}")
        : "off";
}

/// <summary>One producer client host: its settings and how many sequential worker processes share it.</summary>
public sealed record ProducerSpec(
    short Acks,
    int Retries,
    int Workers,
    int MaxInFlight,
    int LingerMs,
    int BatchRecordsMax,
    CompressionCodec Compression,
    int RequestTimeoutMs,
    int DeliveryTimeoutMs,
    IReadOnlyDictionary<ApiKey, short> MaxVersions,
    bool Idempotence = false,
    bool Transactional = false);

/// <summary>One consumer client host; it is assigned every partition of the topic.</summary>
public sealed record ConsumerSpec(
    int FetchMaxWaitMs,
    int MaxPartitionFetchBytes,
    sbyte IsolationLevel,
    bool ResumeAfterCrash,
    int RequestTimeoutMs,
    IReadOnlyDictionary<ApiKey, short> MaxVersions)
{
    /// <summary>Which member of the <see cref="WorkloadOptions.Group"/> this host is; -1 for an assigned consumer.</summary>
    public int GroupMember { get; init; } = -1;
}

/// <summary>
/// A consumer group over the workload's topic (docs/design/GROUPS.md): <see cref="Members"/> client hosts join
/// group "g" with the range assignor and commit either after processing a poll's records (at-least-once) or
/// before (at-most-once). Static members keep an instance id across restarts.
/// </summary>
public sealed record GroupWorkload(int Members, bool CommitAfterProcess, bool Static, int SessionTimeoutMs, int InitialRebalanceDelayMs)
{
    public const string GroupId = "g";

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"members={Members} commit={(CommitAfterProcess ? "after-process" : "before-process")} static={Static} session={SessionTimeoutMs}ms initial-delay={InitialRebalanceDelayMs}ms");
}

/// <summary>What the workload does: one topic, producers sending unique values, consumers reading everything.</summary>
public sealed record WorkloadOptions
{
    /// <summary>A consumer group reading the topic besides the assigned consumers; null: none.</summary>
    public GroupWorkload? Group { get; init; }

    public string Topic { get; init; } = "jepsen";
    public int Partitions { get; init; } = 2;
    public IReadOnlyList<ProducerSpec> Producers { get; init; } = [];
    public IReadOnlyList<ConsumerSpec> Consumers { get; init; } = [];

    /// <summary>Mean think time between a worker's completed send and its next one (exponential).</summary>
    public double ThinkTimeMeanMs { get; init; } = 20;

    /// <summary>How long a consumer's poll operation waits for records before completing empty.</summary>
    public int PollWindowMs { get; init; } = 100;

    /// <summary>Sends each producer worker must complete Ok after the heal (the liveness phase's progress check).</summary>
    public int LivenessSendsPerWorker { get; init; } = 3;

    /// <summary>Topic configs of the workload's topic (segment.bytes etc.), as Kafka key/values.</summary>
    public IReadOnlyDictionary<string, string> TopicConfigs { get; init; } = new SortedDictionary<string, string>(StringComparer.Ordinal);

    /// <summary>The broker's max in-flight requests per connection (small values exercise backpressure).</summary>
    public int BrokerMaxInFlightPerConnection { get; init; } = 256;
}

/// <summary>
/// Everything that shapes one run, drawn from a seed by <see cref="Draw"/> and adjustable with <c>with</c>
/// (the CLI forces or disables faults that way). The run is a pure function of (seed, options).
/// </summary>
public sealed record SimulationOptions
{
    private FaultSpec[] _faults = All(FaultSpec.Off);

    private static FaultSpec[] All(FaultSpec spec) => Enumerable.Repeat(spec, FaultNames.All.Count).ToArray();

    /// <summary>The seed these options were drawn from (informational; <see cref="Simulation.Run"/> takes the seed).</summary>
    public ulong DrawnFromSeed { get; init; }

    /// <summary>Broker nodes. The broker is single-node for now; the world supports more endpoints.</summary>
    public int Nodes { get; init; } = 1;

    public WorkloadOptions Workload { get; init; } = new();

    /// <summary>Virtual milliseconds of the safety phase (faults on).</summary>
    public long SafetyPhaseMs { get; init; } = 10_000;

    /// <summary>Virtual milliseconds after the heal within which every client must progress and every
    /// acknowledged write must be read.</summary>
    public long LivenessBoundMs { get; init; } = 60_000;

    /// <summary>TCP_USER_TIMEOUT: unacknowledged data this long resets a connection.</summary>
    public long TcpUserTimeoutMs { get; init; } = 3_000;

    /// <summary>The first TCP retransmission timeout; each retry doubles it.</summary>
    public long TcpRtoMs { get; init; } = 200;

    /// <summary>Median one-way latency (log-normal body) and its spread.</summary>
    public long LatencyMedianUs { get; init; } = 300;
    public double LatencySigma { get; init; } = 0.5;

    /// <summary>Median fsync latency (log-normal body).</summary>
    public long FsyncMedianUs { get; init; } = 1_000;

    /// <summary>Force SimDisk.LyingFsync on every node after setup: syncs report success and persist nothing.
    /// Not part of the swarm: the test that proves the checks catch real loss turns it on.</summary>
    public bool LyingDisk { get; init; }

    /// <summary>Plant the broker bug that idempotence exists to prevent: partitions accept any producer sequence, so
    /// a retried batch is written again. Not part of the swarm: the test that proves the duplicate check catches it
    /// turns it on.</summary>
    public bool PlantedDuplicateBug { get; init; }

    /// <summary>Run the node-state invariant checkers after every event.</summary>
    public bool CheckNodeInvariants { get; init; } = true;

    /// <summary>Bounds on a run: events processed and pending.</summary>
    public long MaxEvents { get; init; } = 5_000_000;

    /// <summary>Test-only: behaviours of the group coordinator broken on purpose, to show the group checks
    /// catch them (GROUPS.md). Never drawn, never set by the CLI.</summary>
    public Core.Groups.GroupFaults GroupFaults { get; init; }
    public int MaxPendingEvents { get; init; } = 1_000_000;

    /// <summary>The admin workload (src/Sim/Reach): every API checked against the reference model; null: none.</summary>
    public Reach.AdminWorkloadOptions? Admin { get; init; }

    /// <summary>Test-only: broker bugs planted on purpose to show the reference model and the new faults catch
    /// them (src/Sim/Reach/PlantedBugs.cs). Never drawn.</summary>
    public Reach.PlantedBugs PlantedBugs { get; init; }

    /// <summary>Test-only: transaction bugs planted on purpose (Core.Transactions.TransactionFaults;
    /// TRANSACTIONS.md). Never drawn.</summary>
    public Core.Transactions.TransactionFaults TransactionFaults { get; init; }

    public FaultSpec Fault(FaultKind kind) => _faults[(int)kind];

    public bool IsOn(FaultKind kind) => _faults[(int)kind].Enabled;

    public SimulationOptions WithFault(FaultKind kind, FaultSpec spec)
    {
        var copy = this with { };
        copy._faults = (FaultSpec[])_faults.Clone();
        copy._faults[(int)kind] = spec;
        return copy;
    }

    /// <summary>Enables a fault with the intensity <see cref="Draw"/> would give it for <paramref name="seed"/>.</summary>
    public SimulationOptions Force(FaultKind kind, ulong seed)
    {
        var drawn = DrawFault(kind, new SeededRandom(SubSeed(seed, 1000 + (ulong)kind)));
        return WithFault(kind, drawn with { Enabled = true });
    }

    public SimulationOptions Disable(FaultKind kind) => WithFault(kind, Fault(kind) with { Enabled = false });

    public SimulationOptions WithoutFaults()
    {
        var copy = this with { };
        copy._faults = All(FaultSpec.Off);
        return copy;
    }

    public IReadOnlyList<FaultKind> EnabledFaults => FaultNames.All.Where(IsOn).ToList();

    /// <summary>Derives an independent stream's seed (options, network, workload, ...) from the run's seed.</summary>
    public static ulong SubSeed(ulong seed, ulong stream)
    {
        ulong z = seed ^ (stream * 0x9E3779B97F4A7C15UL) ^ 0xD1B54A32D192ED03UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>
    /// The swarm: draws which faults are on (each with probability 1/2) and their intensities, the workload's
    /// shape (partitions, producers with their acks/retries/in-flight, consumers) and the phase lengths, all
    /// from <paramref name="seed"/> alone.
    /// </summary>
    public static SimulationOptions Draw(ulong seed)
    {
        var r = new SeededRandom(SubSeed(seed, 1));
        var options = new SimulationOptions
        {
            DrawnFromSeed = seed,
            Workload = DrawWorkload(r) with { Group = DrawGroup(new SeededRandom(SubSeed(seed, 60))) },
            SafetyPhaseMs = r.NextInt(5_000, 15_001),
            LivenessBoundMs = 60_000,
            TcpUserTimeoutMs = r.NextInt(1_000, 5_001),
            TcpRtoMs = r.NextInt(50, 301),
            LatencyMedianUs = r.NextInt(100, 2_001),
            LatencySigma = 0.2 + r.NextDouble() * 0.8,
            FsyncMedianUs = r.NextInt(200, 5_001),
        };
        var faults = All(FaultSpec.Off);
        foreach (var kind in FaultNames.All)
        {
            var spec = DrawFault(kind, new SeededRandom(SubSeed(seed, 1000 + (ulong)kind)));
            faults[(int)kind] = spec with { Enabled = r.NextBool(0.5) };
        }
        options._faults = faults;
        options = options with { Admin = Reach.AdminWorkloadOptions.Draw(seed) };
        // A third of the runs use idempotent producers (all of them, at acks=all, as Kafka's producer requires), so
        // the checker can forbid duplicates for the whole run. Drawn from its own stream: the draws above, and so
        // every seed's other settings, are the same as before idempotence existed.
        if (new SeededRandom(SubSeed(seed, 12)).NextBool(1.0 / 3))
        {
            options = options with
            {
                Workload = options.Workload with
                {
                    Producers = options.Workload.Producers.Select(p => p with { Acks = -1, Idempotence = true }).ToList(),
                },
            };
        }
        // A quarter of the runs are transactional (issue 10): every producer host runs the client's
        // TransactionalProducer (idempotent, acks=all, as Kafka requires) and every consumer reads at read_committed,
        // so the history checker judges transactions (G1a, G0/G1c, lost writes) under whatever faults the seed drew.
        // No consumer group then: its members read at read_uncommitted. Its own stream, as above.
        if (new SeededRandom(SubSeed(seed, 13)).NextBool(0.25)) options = options with { Workload = Transactional(options.Workload) };
        return options;
    }

    /// <summary>The workload made transactional: transactional idempotent producers at acks=all, read_committed
    /// consumers, no group. <see cref="Draw"/> does it for a quarter of the seeds; tests force it.</summary>
    public static WorkloadOptions Transactional(WorkloadOptions w) => w with
    {
        Group = null,
        Producers = w.Producers.Select(p => p with { Transactional = true, Idempotence = true, Acks = -1 }).ToList(),
        Consumers = w.Consumers.Where(c => c.GroupMember < 0).Select(c => c with { IsolationLevel = 1 }).ToList(),
    };

    private static double LogUniform(IRandom r, double min, double max) => World.DetMath.LogUniform(r, min, max);

    /// <summary>A fault's rate, durations and intensity (enabled); see SIMULATION.md for each meaning.</summary>
    private static FaultSpec DrawFault(FaultKind kind, IRandom r)
    {
        double rate = LogUniform(r, 0.1, 1.0);
        return kind switch
        {
            // Intensity: probability that a segment's latency comes from the exponential tail; tail mean 5-200 ms.
            FaultKind.Delay => new(true, 0, 5, r.NextInt(20, 201), 0.01 + r.NextDouble() * 0.2),
            // Intensity: per-transmission drop probability on the affected links during an episode.
            FaultKind.Loss => new(true, rate, 200, r.NextInt(500, 5_001), 0.05 + r.NextDouble() * 0.6),
            FaultKind.Clog => new(true, rate, 50, r.NextInt(100, 4_001), 0),
            FaultKind.Partition => new(true, rate, 200, r.NextInt(500, 8_001), 0),
            FaultKind.AsymmetricPartition => new(true, rate, 200, r.NextInt(500, 8_001), 0),
            FaultKind.ClientPartition => new(true, rate, 200, r.NextInt(500, 8_001), 0),
            FaultKind.ConnectionReset => new(true, LogUniform(r, 0.1, 2), 0, 0, 0),
            // Crash: duration is the downtime before the restart.
            FaultKind.Crash => new(true, LogUniform(r, 0.1, 0.5), 10, r.NextInt(50, 3_001), 0),
            FaultKind.Pause => new(true, rate, 10, r.NextInt(50, 5_001), 0),
            FaultKind.ClientCrash => new(true, LogUniform(r, 0.1, 0.5), 10, r.NextInt(50, 2_001), 0),
            // Intensity: probability that a crash tears the last kept sector of an unsynced tail.
            FaultKind.TornWrite => new(true, 0, 0, 0, 0.3 + r.NextDouble() * 0.7),
            // Intensity: bits flipped per affected file (1-8): in crash-surviving unsynced tails and in index files.
            FaultKind.BitFlip => new(true, rate, 0, 0, 1 + r.NextInt(0, 8)),
            // Intensity: probability that a write to an index file lands at a wrong position during an episode.
            FaultKind.MisdirectedWrite => new(true, rate, 100, r.NextInt(200, 3_001), 0.05 + r.NextDouble() * 0.5),
            // Intensity: fsync latency multiplier during an episode (10x-2000x).
            FaultKind.SlowFsync => new(true, rate, 100, r.NextInt(200, 5_001), LogUniform(r, 10, 2_000)),
            // Intensity: probability that a write fails with ENOSPC during an episode.
            FaultKind.DiskFull => new(true, rate, 100, r.NextInt(200, 5_001), 0.3 + r.NextDouble() * 0.7),
            // Intensity: maximum initial wall-clock offset per node/client, in ms.
            FaultKind.ClockSkew => new(true, 0, 0, 0, LogUniform(r, 10, 600_000)),
            // Intensity: maximum drift, in parts per million (up to 5%).
            FaultKind.ClockDrift => new(true, 0, 0, 0, LogUniform(r, 10, 50_000)),
            // Intensity: maximum jump, in ms (either direction).
            FaultKind.ClockJump => new(true, rate, 0, 0, LogUniform(r, 10, 3_600_000)),
            // A client process stops (GC, SIGSTOP) for the duration; its inputs and timers wait.
            FaultKind.ClientPause => new(true, rate, 10, r.NextInt(50, 5_001), 0),
            // Intensity: probability that an fsync completing during an episode fails with EIO.
            FaultKind.FsyncError => new(true, LogUniform(r, 0.05, 0.3), 50, r.NextInt(100, 2_001), 0.05 + r.NextDouble() * 0.5),
            // Intensity: probability that a node's restart finds files recovery rebuilds (indexes, producer
            // snapshots, the leader-epoch checkpoint, .tmp leftovers) damaged while it was down.
            FaultKind.DerivedFileDamage => new(true, 0, 0, 0, 0.3 + r.NextDouble() * 0.7),
            // Intensity: probability that a client's EndTxn is also delivered late, as a stale copy on a connection
            // of its own, just before that client's next EndTxn sent at least the duration after it (KIP-890 part 2).
            FaultKind.DelayedEndTxn => new(true, 0, 0, r.NextInt(500, 3_001), 0.2 + r.NextDouble() * 0.6),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
    }

    private static WorkloadOptions DrawWorkload(IRandom r)
    {
        int producers = r.NextInt(1, 4);
        var producerSpecs = new List<ProducerSpec>();
        for (int i = 0; i < producers; i++)
        {
            double a = r.NextDouble();
            short acks = a < 0.45 ? (short)-1 : a < 0.9 ? (short)1 : (short)0;
            int[] retryChoices = [0, 2, int.MaxValue];
            int requestTimeout = r.NextInt(1_000, 6_001);
            producerSpecs.Add(new ProducerSpec(
                Acks: acks,
                Retries: retryChoices[r.NextInt(0, 3)],
                Workers: r.NextInt(1, 4),
                MaxInFlight: r.NextInt(1, 6),
                LingerMs: r.NextInt(0, 11),
                BatchRecordsMax: r.NextInt(1, 21),
                Compression: DrawCodec(r),
                RequestTimeoutMs: requestTimeout,
                DeliveryTimeoutMs: requestTimeout * r.NextInt(2, 6),
                MaxVersions: DrawVersionCaps(r)));
        }
        int consumers = r.NextInt(1, 3);
        var consumerSpecs = new List<ConsumerSpec>();
        for (int i = 0; i < consumers; i++)
        {
            consumerSpecs.Add(new ConsumerSpec(
                FetchMaxWaitMs: r.NextInt(10, 501),
                MaxPartitionFetchBytes: r.NextInt(512, 65_537),
                IsolationLevel: (sbyte)r.NextInt(0, 2),
                ResumeAfterCrash: r.NextBool(0.5),
                RequestTimeoutMs: r.NextInt(2_000, 6_001),
                MaxVersions: DrawVersionCaps(r)));
        }
        var topicConfigs = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            // Small segments and dense indexes: rolls, index files and multi-segment recovery happen every run.
            ["segment.bytes"] = r.NextInt(1_024, 16_385).ToString(CultureInfo.InvariantCulture),
            ["index.interval.bytes"] = r.NextInt(32, 1_025).ToString(CultureInfo.InvariantCulture),
            ["segment.index.bytes"] = (8 * r.NextInt(2, 129)).ToString(CultureInfo.InvariantCulture),
        };
        // A quarter of the runs make the broker recompress whatever the producers send (Kafka's compression.type).
        if (r.NextBool(0.25))
            topicConfigs["compression.type"] = LogConfig.CompressionTypes[r.NextInt(0, LogConfig.CompressionTypes.Count)];
        return new WorkloadOptions
        {
            Partitions = r.NextInt(1, 5),
            Producers = producerSpecs,
            Consumers = consumerSpecs,
            ThinkTimeMeanMs = LogUniform(r, 5, 80),
            PollWindowMs = r.NextInt(20, 301),
            LivenessSendsPerWorker = 3,
            TopicConfigs = topicConfigs,
            BrokerMaxInFlightPerConnection = r.NextBool(0.3) ? r.NextInt(1, 5) : 256,
        };
    }

    /// <summary>Half the producers compress, each with one of Kafka's four codecs.</summary>
    private static CompressionCodec DrawCodec(IRandom r)
        => r.NextBool(0.5) ? (CompressionCodec)r.NextInt((int)CompressionCodec.Gzip, (int)CompressionCodec.Zstd + 1) : CompressionCodec.None;

    /// <summary>Half the runs have a consumer group, from a stream of its own so the rest of the draw is unchanged.</summary>
    private static GroupWorkload? DrawGroup(IRandom r)
    {
        if (!r.NextBool(0.5)) return null;
        return new GroupWorkload(
            Members: r.NextInt(1, 4),
            CommitAfterProcess: r.NextBool(0.5),
            Static: r.NextBool(0.3),
            SessionTimeoutMs: r.NextInt(2_000, 8_001),
            InitialRebalanceDelayMs: r.NextBool(0.5) ? 0 : r.NextInt(100, 3_001));
    }

    /// <summary>Half the clients cap their API versions at random, so old encodings get exercised too.</summary>
    private static IReadOnlyDictionary<ApiKey, short> DrawVersionCaps(IRandom r)
    {
        var caps = new SortedDictionary<ApiKey, short>();
        if (!r.NextBool(0.5)) return caps;
        caps[ApiKey.Produce] = (short)r.NextInt(3, 10);
        caps[ApiKey.Fetch] = (short)r.NextInt(4, 13);
        caps[ApiKey.Metadata] = (short)r.NextInt(1, 10);
        caps[ApiKey.ListOffsets] = (short)r.NextInt(1, 8);
        caps[ApiKey.ApiVersions] = (short)r.NextInt(0, 4);
        return caps;
    }

    /// <summary>One "name = value" line per setting, in a fixed order: what the CLI prints and a report embeds.</summary>
    public string Describe()
    {
        var b = new StringBuilder();
        void Line(string name, object value) => b.Append(name).Append(" = ").Append(Convert.ToString(value, CultureInfo.InvariantCulture)).Append('\n');
        Line("seed", DrawnFromSeed);
        Line("nodes", Nodes);
        Line("safety-phase-ms", SafetyPhaseMs);
        Line("liveness-bound-ms", LivenessBoundMs);
        Line("tcp-user-timeout-ms", TcpUserTimeoutMs);
        Line("tcp-rto-ms", TcpRtoMs);
        Line("latency-median-us", LatencyMedianUs);
        Line("latency-sigma", LatencySigma.ToString("0.###", CultureInfo.InvariantCulture));
        Line("fsync-median-us", FsyncMedianUs);
        Line("lying-disk", LyingDisk);
        Line("planted-duplicate-bug", PlantedDuplicateBug);
        Line("node-invariants", CheckNodeInvariants);
        foreach (var kind in FaultNames.All) Line("fault." + FaultNames.Name(kind), Fault(kind));
        var w = Workload;
        Line("workload.topic", w.Topic);
        Line("workload.partitions", w.Partitions);
        Line("workload.think-time-mean-ms", w.ThinkTimeMeanMs.ToString("0.##", CultureInfo.InvariantCulture));
        Line("workload.poll-window-ms", w.PollWindowMs);
        Line("workload.broker-max-in-flight", w.BrokerMaxInFlightPerConnection);
        foreach (var (k, v) in w.TopicConfigs) Line("workload.topic-config." + k, v);
        if (w.Group is { } g) Line("workload.group", g);
        if (Admin is { } admin) Line("workload.admin", admin);
        if (PlantedBugs != Reach.PlantedBugs.None) Line("planted-bugs", PlantedBugs);
        for (int i = 0; i < w.Producers.Count; i++)
        {
            var p = w.Producers[i];
            Line($"workload.producer[{i}]", string.Create(CultureInfo.InvariantCulture,
                $"acks={p.Acks} retries={(p.Retries == int.MaxValue ? "max" : p.Retries.ToString(CultureInfo.InvariantCulture))} workers={p.Workers} in-flight={p.MaxInFlight} linger={p.LingerMs}ms batch={p.BatchRecordsMax} compression={p.Compression} idempotence={(p.Idempotence ? "on" : "off")}{(p.Transactional ? " transactional=on" : "")} request-timeout={p.RequestTimeoutMs}ms delivery-timeout={p.DeliveryTimeoutMs}ms versions={Caps(p.MaxVersions)}"));
        }
        for (int i = 0; i < w.Consumers.Count; i++)
        {
            var c = w.Consumers[i];
            Line($"workload.consumer[{i}]", string.Create(CultureInfo.InvariantCulture,
                $"max-wait={c.FetchMaxWaitMs}ms partition-max-bytes={c.MaxPartitionFetchBytes} isolation={c.IsolationLevel} resume-after-crash={c.ResumeAfterCrash} request-timeout={c.RequestTimeoutMs}ms versions={Caps(c.MaxVersions)}"));
        }
        return b.ToString();
    }

    private static string Caps(IReadOnlyDictionary<ApiKey, short> caps)
        => caps.Count == 0 ? "max" : string.Join(",", caps.OrderBy(kv => kv.Key).Select(kv => kv.Key + "<=" + kv.Value.ToString(CultureInfo.InvariantCulture)));
}
