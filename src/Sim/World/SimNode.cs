using System.Globalization;
using System.Text;
using DetKafka.Sim.Trace;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Client;
using DetKafka.Core.Util;

namespace DetKafka.Sim.World;

/// <summary>
/// A broker machine: its disk and clock outlive the broker process, which crashes (losing what was not
/// synced), restarts (recovering from the disk) and pauses (a stop-the-world: inputs wait, the clock runs).
/// </summary>
public sealed class SimNode : Endpoint
{
    /// <summary>Inputs a paused node may accumulate before the run fails (a bound, not a fault).</summary>
    public const int BacklogMax = 200_000;

    private readonly SimWorld _world;
    private readonly List<Func<TraceDetails>> _backlog = new();

    internal SimNode(SimWorld world, int index, int nodeId, SimClock clock, BrokerConfig config)
        : base(index, "n" + nodeId.ToString(CultureInfo.InvariantCulture))
    {
        _world = world;
        NodeId = nodeId;
        Clock = clock;
        Config = config;
        Network = new NodeNetwork(this);
        Log = new TraceBrokerLog(world, Name);
    }

    public int NodeId { get; }
    public SimClock Clock { get; }
    public BrokerConfig Config { get; }
    public SimDisk Disk { get; } = new();

    /// <summary>The running broker process; null while crashed.</summary>
    public BrokerNode? Broker { get; internal set; }

    public override bool IsUp => Broker is not null;

    /// <summary>Stopped (SIGSTOP, a long GC): inputs are deferred until it resumes.</summary>
    public bool Paused { get; internal set; }

    public int Restarts { get; internal set; }

    internal INetwork Network { get; }
    internal IBrokerLog Log { get; }

    // Driver bookkeeping: the poll event scheduled, syncs scheduled, the last sync completion time (FIFO).
    internal long ScheduledPollUs = long.MaxValue;
    internal int ScheduledSyncs;
    internal long LastSyncUs;
    internal int ScheduledReads;
    internal long LastReadUs;

    // Disk fault episodes (global virtual us).
    internal long DiskFullUntilUs;
    internal double DiskFullProbability;
    internal long MisdirectUntilUs;
    internal double MisdirectProbability;
    internal long SlowFsyncUntilUs;
    internal double FsyncMultiplier = 1;
    internal long FsyncErrorUntilUs;
    internal double FsyncErrorProbability;
    internal bool SawFsyncError;

    internal int BacklogCount => _backlog.Count;

    internal void Defer(Func<TraceDetails> input)
    {
        Check.That(_backlog.Count < BacklogMax, "a paused node's backlog is bounded");
        _backlog.Add(input);
        _world.Count("node.inputs-deferred-by-pause");
    }

    internal List<Func<TraceDetails>> TakeBacklog()
    {
        var items = _backlog.ToList();
        _backlog.Clear();
        return items;
    }

    internal void DropBacklog() => _backlog.Clear();

    internal void HealDiskFaults()
    {
        DiskFullUntilUs = 0;
        MisdirectUntilUs = 0;
        SlowFsyncUntilUs = 0;
        FsyncMultiplier = 1;
        FsyncErrorUntilUs = 0;
    }

    /// <summary>The broker's INetwork: every call becomes traffic on the simulated network.</summary>
    private sealed class NodeNetwork(SimNode node) : INetwork
    {
        public void Send(ConnectionId connection, ReadOnlySpan<byte> bytes) => node._world.Network.Send(node, connection, bytes);
        public void Close(ConnectionId connection) => node._world.Network.Close(node, connection);
        public void SetReceiveEnabled(ConnectionId connection, bool enabled) => node._world.Network.SetReceiveEnabled(node, connection, enabled);
        public ConnectionId Connect(string host, int port) => node._world.Network.ConnectFromNode(node, new BrokerAddress(host, port));
    }
}

/// <summary>
/// A client machine. It runs one workload process at a time (a producer with several worker processes, or a
/// consumer); a crashed process is replaced by a new one with new process numbers.
/// </summary>
public sealed class ClientHost : Endpoint
{
    private readonly SimWorld _world;

    internal ClientHost(SimWorld world, int index, int slot, SimClock clock, ProducerSpec? producer, ConsumerSpec? consumer)
        : base(index, "c" + slot.ToString(CultureInfo.InvariantCulture))
    {
        _world = world;
        Slot = slot;
        Clock = clock;
        ProducerSpec = producer;
        ConsumerSpec = consumer;
        Network = new HostNetwork(this);
    }

    public int Slot { get; }
    public SimClock Clock { get; }
    public ProducerSpec? ProducerSpec { get; }
    public ConsumerSpec? ConsumerSpec { get; }

    public KafkaClient? Client { get; internal set; }
    public Producer? Producer { get; internal set; }
    public Consumer? Consumer { get; internal set; }

    public override bool IsUp => Client is not null;

    internal IClientNetwork Network { get; }
    internal long ScheduledPollUs = long.MaxValue;

    /// <summary>The admin workload's host (src/Sim/Reach), neither producer nor consumer.</summary>
    public bool IsAdmin { get; init; }

    /// <summary>The admin process's hand-framed connections (src/Sim/Reach/RawConnections.cs): their inputs go there
    /// instead of to the KafkaClient.</summary>
    internal Reach.RawConnections? Raw { get; set; }

    /// <summary>The process is stopped (a GC pause, SIGSTOP): its inputs and timers wait, in order, until it
    /// resumes; its clock runs on, so request timeouts may fire at once on resume.</summary>
    public bool Paused { get; internal set; }

    private readonly List<Action> _backlog = new();

    internal void Defer(Action input)
    {
        Check.That(_backlog.Count < SimNode.BacklogMax, "a paused client's backlog is bounded");
        _backlog.Add(input);
    }

    internal List<Action> TakeBacklog()
    {
        var items = _backlog.ToList();
        _backlog.Clear();
        return items;
    }

    private sealed class HostNetwork(ClientHost host) : IClientNetwork
    {
        public ConnectionId Connect(BrokerAddress address) => host._world.Network.ConnectFromClient(host, address);
        public void Send(ConnectionId connection, ReadOnlySpan<byte> bytes) => host._world.Network.Send(host, connection, bytes);
        public void Close(ConnectionId connection) => host._world.Network.Close(host, connection);
    }
}

/// <summary>Broker log lines at Information and above become trace records of the event that produced them.</summary>
internal sealed class TraceBrokerLog(SimWorld world, string actor) : IBrokerLog
{
    public bool IsEnabled(LogLevel level) => level >= LogLevel.Information;

    public void Write(LogLevel level, string template, params object?[] args)
        => world.Note(actor, "log", level.ToString().ToLowerInvariant() + " " + Render(template, args));

    /// <summary>Fills Serilog-style {Name} holes in order with the arguments' invariant text.</summary>
    internal static string Render(string template, object?[] args)
    {
        var b = new StringBuilder(template.Length + 32);
        int next = 0;
        for (int i = 0; i < template.Length; i++)
        {
            char c = template[i];
            int close = c == '{' ? template.IndexOf('}', i) : -1;
            if (close < 0)
            {
                b.Append(c);
                continue;
            }
            b.Append(next < args.Length ? Convert.ToString(args[next], CultureInfo.InvariantCulture) : "?");
            next++;
            i = close;
        }
        return b.ToString();
    }
}
