using System.Globalization;
using System.Runtime.CompilerServices;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Client;
using DetKafka.Core.Util;
using DetKafka.Sim.Trace;
using SimHistory = DetKafka.Sim.History.History;

namespace DetKafka.Sim.World;

/// <summary>
/// The simulated world: broker machines and client machines on a simulated network, one event queue in
/// virtual time, every random choice drawn from streams derived from one seed. It drives each BrokerNode
/// exactly as the host's driver thread does (inputs one at a time, Poll at NextDeadlineMs, sync completions
/// when the simulated disk finishes them) and each client the same way. Faults are methods here; the
/// <see cref="Nemesis"/> calls them on a schedule during the safety phase and tests call them directly.
/// Deterministic: no wall clock, no unseeded random, no hash-ordered iteration reaches the trace.
/// </summary>
public sealed partial class SimWorld : ISimEventTarget
{
    public const int BrokerPort = 9092;
    public const string DataDirectory = "data";

    private readonly EventQueue _queue;
    private readonly ITraceSink? _sink;
    private readonly List<PendingRecord> _notes = new();
    private readonly SortedDictionary<string, long> _counters = new(StringComparer.Ordinal);
    private readonly List<SimNode> _nodes = new();
    private readonly List<ClientHost> _clients = new();
    private readonly List<SimNode> _restarted = new();
    private readonly List<SimNode> _touched = new();
    private readonly IRandom _diskRandom;
    private readonly IRandom _clockRandom;
    private TraceHasher _hash;
    private bool _inEvent;

    public SimWorld(ulong seed, SimulationOptions options, ITraceSink? trace = null)
    {
        Seed = seed;
        Options = options;
        _sink = trace;
        _queue = new EventQueue(new SeededRandom(SimulationOptions.SubSeed(seed, 2)), options.MaxPendingEvents);
        _diskRandom = new SeededRandom(SimulationOptions.SubSeed(seed, 4));
        _clockRandom = new SeededRandom(SimulationOptions.SubSeed(seed, 7));
        var w = options.Workload;
        int groupMembers = w.Group?.Members ?? 0;
        int endpoints = options.Nodes + w.Producers.Count + w.Consumers.Count + groupMembers + (options.Admin is null ? 0 : 1);
        Network = new SimNetwork(this, new SeededRandom(SimulationOptions.SubSeed(seed, 3)), endpoints);
        for (int i = 0; i < options.Nodes; i++)
        {
            int nodeId = i + 1;
            var config = new BrokerConfig
            {
                NodeId = nodeId,
                AdvertisedHost = "n" + nodeId.ToString(CultureInfo.InvariantCulture),
                AdvertisedPort = BrokerPort,
                DataDirectory = DataDirectory,
                // Topics exist before the workload starts; creating one needs a metadata write that ENOSPC would fail.
                AutoCreateTopicsEnable = false,
                NumPartitions = w.Partitions,
                MaxInFlightRequestsPerConnection = w.BrokerMaxInFlightPerConnection,
                TestOnlyIgnoreProducerSequences = options.PlantedDuplicateBug,
                TestOnlyListOffsetsOffByOne = options.PlantedBugs.HasFlag(Reach.PlantedBugs.ListOffsetsOffByOne),
                TestOnlySkipLogStartCheckpoint = options.PlantedBugs.HasFlag(Reach.PlantedBugs.LostDeleteRecordsCheckpoint),
                TestOnlyIgnoreSyncErrors = options.PlantedBugs.HasFlag(Reach.PlantedBugs.IgnoredFsyncError),
                TestOnlyIgnoreConfigDeletes = options.PlantedBugs.HasFlag(Reach.PlantedBugs.IgnoredConfigDelete),
                TestOnlySkipBatchCrc = options.PlantedBugs.HasFlag(Reach.PlantedBugs.SkippedBatchCrc),
                TestOnlyIgnoreLeaveGroup = options.PlantedBugs.HasFlag(Reach.PlantedBugs.IgnoredLeaveGroup),
                TestOnlyEndTxnCommitsAborts = options.PlantedBugs.HasFlag(Reach.PlantedBugs.EndTxnCommitsAborts),
                OffsetsTopicNumPartitions = 3,
                GroupInitialRebalanceDelayMs = w.Group?.InitialRebalanceDelayMs ?? 0,
                GroupMinSessionTimeoutMs = 1_000,
                // The cleaner looks for dirty compacted logs often enough to run within a safety phase (the admin
                // process's compacted topic, __consumer_offsets; src/Sim/Reach/AdminCompaction.cs).
                LogCleaner = Core.Storage.LogCleanerConfig.Default with { BackoffMs = 500 },
            };
            var node = new SimNode(this, _nodes.Count + 0, nodeId, NewClock(), config);
            InstallDiskFaults(node);
            _nodes.Add(node);
        }
        int slot = 1;
        foreach (var p in w.Producers) _clients.Add(new ClientHost(this, options.Nodes + _clients.Count, slot++, NewClock(), p, null));
        foreach (var c in w.Consumers) _clients.Add(new ClientHost(this, options.Nodes + _clients.Count, slot++, NewClock(), null, c));
        for (int i = 0; i < groupMembers; i++)
        {
            var member = new ConsumerSpec(FetchMaxWaitMs: 100, MaxPartitionFetchBytes: 16_384, IsolationLevel: 0, ResumeAfterCrash: false,
                RequestTimeoutMs: 5_000, MaxVersions: new SortedDictionary<Core.Protocol.ApiKey, short>()) { GroupMember = i };
            _clients.Add(new ClientHost(this, options.Nodes + _clients.Count, slot++, NewClock(), null, member));
        }
        if (options.Admin is { } admin)
        {
            _clients.Add(new ClientHost(this, options.Nodes + _clients.Count, slot++, NewClock(), null, null) { IsAdmin = true });
            Admin = new Reach.AdminWorkload(this, admin, new SeededRandom(SimulationOptions.SubSeed(seed, 72)));
        }
        if (w.Group is not null) Groups = new Invariants.GroupObserver(w.Group);
        Workload = new Workload(this, new SeededRandom(SimulationOptions.SubSeed(seed, 6)));
        Nemesis = new Nemesis(this, new SeededRandom(SimulationOptions.SubSeed(seed, 5)));
    }

    public ulong Seed { get; }
    public SimulationOptions Options { get; }
    public SimNetwork Network { get; }
    public Workload Workload { get; }
    public Nemesis Nemesis { get; }

    /// <summary>The admin workload and its reference model (null when the run has none).</summary>
    public Reach.AdminWorkload? Admin { get; }

    /// <summary>What the group checks remember (null without a group workload).</summary>
    public Invariants.GroupObserver? Groups { get; }
    public SimHistory History { get; } = new();

    /// <summary>Global virtual time in microseconds.</summary>
    public long NowUs { get; private set; }
    public long NowMs => NowUs / 1000;

    /// <summary>Events processed so far; also the index of the current one while it runs.</summary>
    public long EventIndex { get; private set; }

    public int PendingEvents => _queue.Count;

    public ulong TraceHash => _hash.Value;

    public IReadOnlyList<SimNode> Nodes => _nodes;
    public IReadOnlyList<ClientHost> Clients => _clients;
    public IEnumerable<Endpoint> Endpoints => _nodes.Cast<Endpoint>().Concat(_clients);

    /// <summary>Nodes restarted by the event that just ran (the recovered-log invariant looks at them).</summary>
    public IReadOnlyList<SimNode> RestartedInLastEvent => _restarted;

    /// <summary>Nodes that took an input or (re)started in the event that just ran: only their state can have
    /// changed, so per-event invariants look only at them.</summary>
    public IReadOnlyList<SimNode> TouchedInLastEvent => _touched;

    private void Touch(SimNode node)
    {
        if (!_touched.Contains(node)) _touched.Add(node);
    }

    /// <summary>When the heal happened (liveness phase start), or -1 during the safety phase.</summary>
    public long HealedAtUs { get; private set; } = -1;

    public bool InLivenessPhase => HealedAtUs >= 0;

    /// <summary>What the faults and the network did, by name (sorted): the tests' evidence that a fault happened.</summary>
    public IReadOnlyDictionary<string, long> Counters => _counters;

    public long Counter(string name) => _counters.GetValueOrDefault(name);

    public void Count(string name, long by = 1) => _counters[name] = _counters.GetValueOrDefault(name) + by;

    private SimClock NewClock()
    {
        long skew = 0, drift = 0;
        var s = Options.Fault(FaultKind.ClockSkew);
        if (s.Enabled) skew = (long)((_clockRandom.NextDouble() * 2 - 1) * s.Intensity);
        var d = Options.Fault(FaultKind.ClockDrift);
        if (d.Enabled) drift = (long)((_clockRandom.NextDouble() * 2 - 1) * Math.Min(d.Intensity, 100_000));
        long origin = _clockRandom.NextInt(0, 1_000_000);
        return new SimClock(() => NowUs, origin, drift, skew);
    }

    internal SimNode? NodeById(int nodeId) => _nodes.Find(n => n.NodeId == nodeId);

    internal SimNode? ResolveNode(BrokerAddress address)
        => address.Port == BrokerPort ? _nodes.Find(n => n.Config.AdvertisedHost == address.Host) : null;

    public BrokerAddress AddressOf(SimNode node) => new(node.Config.AdvertisedHost, node.Config.AdvertisedPort);

    // ---- events and trace ----------------------------------------------------------------------------------

    /// <param name="message">The network message the event delivers (its trace record carries the id), or 0.</param>
    public void Schedule(long timeUs, string actor, string kind, Func<TraceDetails> action, long message = 0)
    {
        Check.That(timeUs >= NowUs, "events are not scheduled in the past");
        _queue.Schedule(new SimEvent(timeUs, actor, kind, action, message));
    }

    /// <summary>A typed event (no closure): <paramref name="target"/> runs it with the values given.</summary>
    internal void Schedule(long timeUs, string actor, string kind, ISimEventTarget target, object? arg, int code, int small, long value, long message = 0)
    {
        Check.That(timeUs >= NowUs, "events are not scheduled in the past");
        _queue.Schedule(new SimEvent(timeUs, actor, kind, target, arg, code, small, value, message));
    }

    // The world's own typed events (SimEvent.Code).
    private const int NodePollEvent = 1, SyncDoneEvent = 2, ClientPollEvent = 3;

    TraceDetails ISimEventTarget.Run(in SimEvent e) => e.Code switch
    {
        NodePollEvent => NodePoll((SimNode)e.Arg!, e.Small, e.Value),
        SyncDoneEvent => CompleteSync((SimNode)e.Arg!, e.Small),
        ClientPollEvent => ClientPoll((ClientHost)e.Arg!, e.Small, e.Value),
        _ => throw new InvalidOperationException("unknown world event " + e.Code),
    };

    /// <summary>A sink is attached: trace details are formatted as text (otherwise only digested).</summary>
    public bool Tracing => _sink is not null;

    /// <summary>Details from an interpolated string, formatted only when <see cref="Tracing"/>.</summary>
    public TraceDetails Details([InterpolatedStringHandlerArgument("")] ref TraceDetailsBuilder details) => details.Build();

    /// <summary>A trace record inside the current event (a log line, a history operation, a fault action, a
    /// message sent: <paramref name="message"/>).</summary>
    public void Note(string actor, string kind, string details, long message = 0) => Note(actor, kind, (TraceDetails)details, message);

    public void Note(string actor, string kind, [InterpolatedStringHandlerArgument("")] ref TraceDetailsBuilder details, long message = 0)
        => Note(actor, kind, details.Build(), message);

    public void Note(string actor, string kind, TraceDetails details, long message = 0)
    {
        var record = new PendingRecord(EventIndex, NowUs, actor, kind, details, message);
        if (_inEvent) _notes.Add(record);
        else Emit(record);
    }

    private readonly record struct PendingRecord(long EventIndex, long TimeUs, string Actor, string Kind, TraceDetails Details, long Message);

    private void Emit(in PendingRecord r)
    {
        _hash.Add(r.EventIndex, r.TimeUs, r.Actor, r.Kind, r.Details.Digest, r.Message);
        _sink?.Write(new TraceRecord(r.EventIndex, r.TimeUs, r.Actor, r.Kind, r.Details.Text ?? "", r.Message));
    }

    /// <summary>Runs the next event. False when nothing is pending.</summary>
    public bool Step()
    {
        if (!_queue.TryDequeue(out var e)) return false;
        Check.That(e.TimeUs >= NowUs, "virtual time never goes backwards");
        NowUs = e.TimeUs;
        EventIndex++;
        LastEventKind = e.Kind;
        _restarted.Clear();
        _touched.Clear();
        _notes.Clear();
        _inEvent = true;
        TraceDetails details;
        try
        {
            details = e.Run();
        }
        finally
        {
            _inEvent = false;
        }
        Emit(new PendingRecord(EventIndex, NowUs, e.Actor, e.Kind, details, e.Message));
        for (int i = 0; i < _notes.Count; i++) Emit(_notes[i]);
        _notes.Clear();
        return true;
    }

    public long NextEventTimeUs => _queue.PeekTimeUs;

    /// <summary>The kind of the event <see cref="Step"/> ran last (the simulator's allocation profile groups by it).</summary>
    internal string? LastEventKind { get; private set; }

    // ---- driving nodes -------------------------------------------------------------------------------------

    /// <summary>Delivers one input to a running, unpaused node, then schedules what it asked for (syncs, a poll).</summary>
    internal void NodeInput(SimNode node, Action<BrokerNode> input, bool isPoll = false)
    {
        if (node.Broker is not { } broker) return;
        Check.That(!node.Paused, "a paused node takes no input");
        Touch(node);
        input(broker);
        AfterNodeInput(node, isPoll);
    }

    /// <summary>The first half of <see cref="NodeInput"/> for callers that call the broker directly (no closure):
    /// the broker to give the input to, or null when the node is down; then <see cref="EndNodeInput"/>.</summary>
    internal BrokerNode? BeginNodeInput(SimNode node)
    {
        if (node.Broker is not { } broker) return null;
        Check.That(!node.Paused, "a paused node takes no input");
        Touch(node);
        return broker;
    }

    internal void EndNodeInput(SimNode node) => AfterNodeInput(node, afterPoll: false);

    private void AfterNodeInput(SimNode node, bool afterPoll)
    {
        if (node.Broker is not { } broker) return;
        while (node.ScheduledSyncs < node.Disk.PendingSyncCount) ScheduleSync(node);
        long deadline = broker.NextDeadlineMs;
        if (deadline == long.MaxValue) return;
        long at = Math.Max(NowUs, node.Clock.GlobalUsAt(deadline));
        // A deadline still due right after Poll would spin: look again a millisecond later.
        if (afterPoll && at <= NowUs) at = NowUs + 1000;
        if (at >= node.ScheduledPollUs) return;
        node.ScheduledPollUs = at;
        int incarnation = node.Incarnation;
        Schedule(at, node.Name, "poll", this, node, NodePollEvent, incarnation, at);
    }

    private TraceDetails NodePoll(SimNode node, int incarnation, long at)
    {
        if (node.Incarnation != incarnation || !node.IsUp || node.ScheduledPollUs != at) return null;
        if (node.Paused)
        {
            node.Defer(() => NodePoll(node, incarnation, at));
            return "deferred (paused)";
        }
        node.ScheduledPollUs = long.MaxValue;
        if (node.Broker!.NextDeadlineMs <= node.Clock.MonotonicMs) NodeInput(node, b => b.Poll(), isPoll: true);
        else AfterNodeInput(node, afterPoll: false);
        return null;
    }

    private void ScheduleSync(SimNode node)
    {
        double latency = Options.FsyncMedianUs * DetMath.Exp(0.5 * DetMath.Normal(_diskRandom));
        if (NowUs < node.SlowFsyncUntilUs)
        {
            latency *= node.FsyncMultiplier;
            Count("disk.slow-fsyncs");
        }
        long at = Math.Max(NowUs + (long)Math.Clamp(latency, 10, 60_000_000), node.LastSyncUs + 1);
        node.LastSyncUs = at;
        node.ScheduledSyncs++;
        int incarnation = node.Incarnation;
        Schedule(at, node.Name, "fsync-done", this, node, SyncDoneEvent, incarnation, 0);
    }

    private TraceDetails CompleteSync(SimNode node, int incarnation)
    {
        if (node.Incarnation != incarnation || !node.IsUp) return null;
        if (node.Paused)
        {
            node.Defer(() => CompleteSync(node, incarnation));
            return "deferred (paused)";
        }
        node.ScheduledSyncs--;
        var done = node.Disk.CompletePendingSyncs(1);
        Check.That(done.Count == 1, "one scheduled completion per requested sync");
        var (token, status) = done[0];
        Count("disk.fsyncs");
        if (BeginNodeInput(node) is { } broker)
        {
            broker.OnSyncCompleted(token, status);
            EndNodeInput(node);
        }
        return Details($"token {token} {status}");
    }

    private void InstallDiskFaults(SimNode node)
    {
        node.Disk.FaultHook = (op, path) =>
        {
            if (op == SimDiskOperation.Write && NowUs < node.DiskFullUntilUs && _diskRandom.NextBool(node.DiskFullProbability))
            {
                Count("disk.enospc-writes");
                return DiskStatus.NoSpace;
            }
            if (op == SimDiskOperation.SyncCompletion) return FsyncFault(node);
            return DiskStatus.Ok;
        };
        node.Disk.WriteRedirect = (path, position, length) =>
        {
            // Confined to index files, which recovery validates and rebuilds: a misdirected write into synced
            // log data would destroy acknowledged records on a real disk too.
            if (NowUs >= node.MisdirectUntilUs || !IsIndexFile(path) || !_diskRandom.NextBool(node.MisdirectProbability))
                return position;
            long slot = position / 8;
            long target = (long)_diskRandom.NextBelow((ulong)(slot + 5));
            if (target == slot) target = slot + 1;
            Count("disk.misdirected-writes");
            return target * 8;
        };
    }

    internal static bool IsIndexFile(string path)
        => path.EndsWith(Core.Storage.LogSegment.IndexSuffix, StringComparison.Ordinal)
           || path.EndsWith(Core.Storage.LogSegment.TimeIndexSuffix, StringComparison.Ordinal);

    // ---- node lifecycle ------------------------------------------------------------------------------------

    private IRandom BrokerRandom(SimNode node)
        => new SeededRandom(SimulationOptions.SubSeed(SimulationOptions.SubSeed(Seed, 8), (ulong)(node.NodeId * 1_000_000L + node.Incarnation)));

    /// <summary>Starts (first boot) or restarts a crashed node: a new BrokerNode recovers from the disk.</summary>
    public void StartNode(SimNode node)
    {
        if (node.IsUp) return;
        if (node.Incarnation > 0) MaybeDamageDerivedFiles(node);
        var broker = new BrokerNode(node.Config, node.Clock, node.Disk, node.Network, BrokerRandom(node), node.Log);
        broker.Groups.Faults = Options.GroupFaults;
        broker.Transactions.Faults = Options.TransactionFaults
            | (Options.PlantedBugs.HasFlag(Reach.PlantedBugs.EndTxnSkipsEpochBump) ? Core.Transactions.TransactionFaults.SkipEndTxnEpochBump : 0);
        node.Broker = broker;
        Touch(node);
        broker.Start();
        bool restart = node.Incarnation > 0;
        if (restart)
        {
            _restarted.Add(node);
            node.Restarts++;
        }
        Count(restart ? "node.restarts" : "node.boots");
        AfterNodeInput(node, afterPoll: false);
    }

    /// <summary>
    /// Power loss: the process dies, the disk keeps only what was synced (with torn-write and bit-flip faults on,
    /// part of an unsynced tail may survive, torn or damaged), and every peer sees its connections reset.
    /// Restarts after <paramref name="downtimeMs"/> when given (or at the heal).
    /// </summary>
    public string CrashNode(SimNode node, long? downtimeMs)
    {
        if (!node.IsUp) return node.Name + " already down";
        node.Broker = null;
        node.Paused = false;
        node.DropBacklog();
        node.Incarnation++;
        node.ScheduledPollUs = long.MaxValue;
        node.ScheduledSyncs = 0;
        var torn = Options.Fault(FaultKind.TornWrite);
        var flips = Options.Fault(FaultKind.BitFlip);
        bool partial = torn.Enabled && _diskRandom.NextBool(torn.Intensity);
        var report = node.Disk.Crash(_diskRandom, partial, flips.Enabled ? (int)flips.Intensity : 0);
        Count("node.crashes");
        Count("disk.unsynced-bytes-lost", report.UnsyncedBytesLost);
        Count("disk.crash-kept-partial-tails", report.TailsKept);
        Count("disk.bits-flipped-in-tails", report.BitsFlipped);
        Network.ProcessDied(node);
        if (downtimeMs is { } down)
        {
            int incarnation = node.Incarnation;
            Schedule(NowUs + down * 1000, node.Name, "restart", () =>
            {
                if (node.IsUp || node.Incarnation != incarnation) return null;
                StartNode(node);
                return "recovered";
            });
        }
        return string.Create(CultureInfo.InvariantCulture,
            $"{node.Name} crashed: {report.FilesWithUnsyncedData} files with unsynced data, {report.UnsyncedBytesLost} bytes lost, {report.TailsKept} partial tails kept, {report.BitsFlipped} bits flipped");
    }

    /// <summary>Stops a node for a while: inputs wait (in order) until it resumes; its clock keeps running.</summary>
    public string PauseNode(SimNode node, long durationMs)
    {
        if (!node.IsUp || node.Paused) return node.Name + " not pausable now";
        node.Paused = true;
        int incarnation = node.Incarnation;
        Count("node.pauses");
        Schedule(NowUs + durationMs * 1000, node.Name, "resume", () => node.Incarnation == incarnation ? ResumeNode(node) : null);
        return string.Create(CultureInfo.InvariantCulture, $"{node.Name} paused for {durationMs} ms");
    }

    public string? ResumeNode(SimNode node)
    {
        if (!node.Paused) return null;
        node.Paused = false;
        var backlog = node.TakeBacklog();
        foreach (var input in backlog)
        {
            if (node.Paused || !node.IsUp) break;
            input();
        }
        return string.Create(CultureInfo.InvariantCulture, $"{node.Name} resumed with {backlog.Count} deferred inputs");
    }

    public void SetDiskFull(SimNode node, long durationMs, double probability)
    {
        node.DiskFullUntilUs = NowUs + durationMs * 1000;
        node.DiskFullProbability = probability;
    }

    public void SetSlowFsync(SimNode node, long durationMs, double multiplier)
    {
        node.SlowFsyncUntilUs = NowUs + durationMs * 1000;
        node.FsyncMultiplier = multiplier;
    }

    public void SetMisdirectedWrites(SimNode node, long durationMs, double probability)
    {
        node.MisdirectUntilUs = NowUs + durationMs * 1000;
        node.MisdirectProbability = probability;
    }

    /// <summary>Bit rot at rest in an index file of the node (both images: it is on the platter).</summary>
    public string FlipIndexBits(SimNode node, int bits, IRandom random)
    {
        var files = new List<string>();
        var disk = node.Disk;
        if (!disk.DirectoryExists(DataDirectory)) return "no data";
        foreach (var dir in disk.List(DataDirectory))
        {
            string path = DataDirectory + "/" + dir;
            if (!disk.DirectoryExists(path)) continue;
            foreach (var name in disk.List(path))
                if (IsIndexFile(name) && disk.ReadDurable(path + "/" + name).Length > 0) files.Add(path + "/" + name);
        }
        if (files.Count == 0) return "no index file with synced bytes";
        string victim = files[random.NextInt(0, files.Count)];
        long length = disk.ReadDurable(victim).Length;
        for (int i = 0; i < bits; i++) disk.FlipBit(victim, (long)random.NextBelow((ulong)length), random.NextInt(0, 8));
        Count("disk.index-bits-flipped", bits);
        return string.Create(CultureInfo.InvariantCulture, $"{bits} bits flipped in {victim}");
    }

    public void JumpClock(SimClock clock, long deltaMs)
    {
        clock.Jump(deltaMs);
        Count("clock.jumps");
    }

    // ---- clients -------------------------------------------------------------------------------------------

    /// <summary>Delivers one input to a running client, polls it, lets the workload react, and schedules its next poll.</summary>
    internal void ClientInput(ClientHost host, Action<KafkaClient> input)
    {
        if (host.Client is not { } client) return;
        if (host.Paused)
        {
            host.Defer(() => ClientInput(host, input));
            return;
        }
        input(client);
        EndClientInput(host, client);
    }

    /// <summary>The first half of <see cref="ClientInput"/> for callers that call the client directly (no
    /// closure): the client, or null when the process is down or paused (the caller defers it); then
    /// <see cref="EndClientInput"/>.</summary>
    internal KafkaClient? BeginClientInput(ClientHost host) => host.Paused ? null : host.Client;

    internal void EndClientInput(ClientHost host, KafkaClient client)
    {
        if (host.Client != client) return;
        client.Poll();
        Workload.AfterClientInput(host);
        RescheduleClientPoll(host, afterPoll: false);
    }

    private void RescheduleClientPoll(ClientHost host, bool afterPoll)
    {
        if (host.Client is not { } client) return;
        long deadline = client.NextDeadlineMs;
        if (deadline == long.MaxValue) return;
        long at = Math.Max(NowUs, host.Clock.GlobalUsAt(deadline));
        if (afterPoll && at <= NowUs) at = NowUs + 1000;
        if (at >= host.ScheduledPollUs) return;
        host.ScheduledPollUs = at;
        int incarnation = host.Incarnation;
        Schedule(at, host.Name, "client-poll", this, host, ClientPollEvent, incarnation, at);
    }

    private TraceDetails ClientPoll(ClientHost host, int incarnation, long at)
    {
        if (host.Incarnation != incarnation || host.ScheduledPollUs != at || host.Client is not { } c) return null;
        if (host.Paused)
        {
            // The poll runs on resume; until then no other poll is scheduled for this host.
            host.ScheduledPollUs = long.MaxValue;
            host.Defer(() => ClientInput(host, _ => { }));
            return "deferred (paused)";
        }
        host.ScheduledPollUs = long.MaxValue;
        c.Poll();
        Workload.AfterClientInput(host);
        RescheduleClientPoll(host, afterPoll: true);
        return null;
    }

    /// <summary>Kills a client process; the workload records its pending operations as unknown and starts a new
    /// process (new process numbers) after <paramref name="downtimeMs"/>, or at the heal.</summary>
    public string CrashClient(ClientHost host, long? downtimeMs)
    {
        if (!host.IsUp) return host.Name + " already down";
        Workload.OnCrash(host);
        host.Client = null;
        host.Producer = null;
        host.Consumer = null;
        host.Incarnation++;
        host.ScheduledPollUs = long.MaxValue;
        host.Paused = false;
        host.TakeBacklog();
        Network.ProcessDied(host);
        Count("client.crashes");
        if (downtimeMs is { } down)
        {
            int incarnation = host.Incarnation;
            Schedule(NowUs + down * 1000, host.Name, "client-restart", () =>
                host.IsUp || host.Incarnation != incarnation ? null : Workload.StartProcess(host));
        }
        return host.Name + " crashed";
    }

    // ---- phases --------------------------------------------------------------------------------------------

    /// <summary>Boots the nodes, creates the workload topic, turns the lying disk on if asked, starts the clients and
    /// the nemesis, and schedules the heal at the end of the safety phase.</summary>
    public void Boot()
    {
        Check.That(EventIndex == 0 && NowUs == 0, "boot once, first");
        _inEvent = true;
        try
        {
            foreach (var node in _nodes) StartNode(node);
            var leader = _nodes[0].Broker!;
            var configs = Options.Workload.TopicConfigs.Select(kv => new KeyValuePair<string, string?>(kv.Key, kv.Value)).ToList();
            var (error, message) = leader.CreateTopic(Options.Workload.Topic, Options.Workload.Partitions, configs, validateOnly: false, out _);
            if (error != Core.Protocol.ErrorCode.None) throw new InvalidOperationException($"creating the workload topic: {error} {message}");
            if (Options.Workload.Group is not null && leader.Groups.EnsureOffsetsTopic() != Core.Protocol.ErrorCode.None)
                throw new InvalidOperationException("creating __consumer_offsets failed");
            foreach (var node in _nodes) node.Disk.LyingFsync = Options.LyingDisk;
            foreach (var host in _clients)
            {
                long start = Workload.Random.NextInt(0, 50_000);
                int incarnation = host.Incarnation;
                Schedule(start, host.Name, "client-start", () => host.Incarnation == incarnation && !host.IsUp ? Workload.StartProcess(host) : null);
            }
            Nemesis.Start();
            Schedule(Options.SafetyPhaseMs * 1000, "nemesis", "heal", () => Heal());
        }
        finally
        {
            _inEvent = false;
        }
        Emit(new PendingRecord(0, 0, "world", "boot", string.Create(CultureInfo.InvariantCulture,
            $"seed {Seed}: {_nodes.Count} nodes, {_clients.Count} client hosts, faults [{string.Join(",", Options.EnabledFaults.Select(FaultNames.Name))}]"), 0));
        foreach (var note in _notes) Emit(note);
        _notes.Clear();
    }

    /// <summary>The end of the safety phase: links healed, disk faults off, paused nodes resumed, crashed nodes and
    /// clients restarted. From now on every client must make progress.</summary>
    public string Heal()
    {
        if (InLivenessPhase) return "already healed";
        HealedAtUs = NowUs;
        Network.HealAllLinks();
        int restarted = 0;
        restarted += RestartNodesAfterFsyncErrors();
        foreach (var node in _nodes)
        {
            node.HealDiskFaults();
            if (node.Paused) ResumeNode(node);
            if (!node.IsUp)
            {
                StartNode(node);
                restarted++;
            }
        }
        foreach (var host in _clients)
        {
            if (host.Paused) ResumeClient(host);
            if (host.IsUp) continue;
            Workload.StartProcess(host);
            restarted++;
        }
        Workload.OnHeal();
        return string.Create(CultureInfo.InvariantCulture, $"healed: links, disks; {restarted} processes restarted");
    }
}
