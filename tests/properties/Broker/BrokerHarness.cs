using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Sim;

namespace DetKafka.Properties.Broker;

/// <summary>
/// One BrokerNode driven in-process: SimDisk, RecordingNetwork, ManualClock, a seeded random. Requests go in
/// as real frames through the shared codec; responses come out as real frames. Sync completions and timers
/// are delivered by the harness, so a test controls exactly when a write becomes durable.
/// </summary>
internal sealed class BrokerHarness
{
    private long _nextConnection = 1;
    private int _nextCorrelation = 1;

    public BrokerHarness(BrokerConfig? config = null, ulong seed = 42, SimDisk? disk = null)
    {
        Config = config ?? new BrokerConfig { NodeId = 1, DataDirectory = "data" };
        Disk = disk ?? new SimDisk();
        Seed = seed;
        Boot();
    }

    public BrokerConfig Config { get; }
    public ulong Seed { get; }
    public SimDisk Disk { get; }
    public RecordingNetwork Network { get; private set; } = null!;
    public ManualClock Clock { get; } = new();
    public BrokerNode Node { get; private set; } = null!;
    public List<string> Logs { get; } = new();

    private void Boot()
    {
        Network = new RecordingNetwork();
        Node = new BrokerNode(Config, Clock, Disk, Network, new SeededRandom(Seed), new ListLog(Logs));
        Node.Start();
    }

    /// <summary>Crash (losing unsynced writes, or tearing them with <paramref name="tear"/>) and start a new node on the same disk.</summary>
    public void CrashAndRestart(IRandom? tear = null)
    {
        if (tear is null) Disk.Crash(); else Disk.Crash(tear);
        Boot();
    }

    public ConnectionId Connect()
    {
        var id = new ConnectionId(_nextConnection++);
        Node.OnConnectionOpened(id);
        return id;
    }

    public int Send(ConnectionId connection, ApiKey key, short version, IKafkaMessage body)
    {
        int correlation = _nextCorrelation++;
        Node.OnReceive(connection, ClientCodec.EncodeRequest(key, version, correlation, "harness", body));
        return correlation;
    }

    /// <summary>Delivers pending sync completions (all, or up to <paramref name="max"/>) to the node.</summary>
    public int CompleteSyncs(int max = int.MaxValue)
    {
        var done = Disk.CompletePendingSyncs(max);
        foreach (var (token, status) in done) Node.OnSyncCompleted(token, status);
        return done.Count;
    }

    public void AdvanceTime(long ms)
    {
        Clock.Advance(ms);
        if (Node.NextDeadlineMs <= Clock.MonotonicMs) Node.Poll();
    }

    /// <summary>Responses received so far on a connection, decoded as <paramref name="key"/> v<paramref name="version"/>.</summary>
    public List<(int CorrelationId, T Body)> Responses<T>(ConnectionId connection, ApiKey key, short version) where T : IKafkaMessage
    {
        var list = new List<(int, T)>();
        foreach (var frame in Network.TakeFrames(connection))
        {
            var body = (T)ClientCodec.DecodeResponse(key, version, new ArraySegment<byte>(frame), out int correlation);
            list.Add((correlation, body));
        }
        return list;
    }

    /// <summary>Send, let syncs complete, and return the single response.</summary>
    public T Call<T>(ConnectionId connection, ApiKey key, short version, IKafkaMessage body) where T : IKafkaMessage
    {
        int correlation = Send(connection, key, version, body);
        for (int round = 0; round < 100; round++)
        {
            var frames = Network.TakeFrames(connection);
            if (frames.Count > 0)
            {
                if (frames.Count != 1) throw new InvalidOperationException($"expected one response, got {frames.Count}");
                var decoded = (T)ClientCodec.DecodeResponse(key, version, new ArraySegment<byte>(frames[0]), out int got);
                if (got != correlation) throw new InvalidOperationException($"correlation {got} != {correlation}");
                return decoded;
            }
            if (CompleteSyncs() == 0) AdvanceTime(Math.Max(1, Math.Min(1000, Node.NextDeadlineMs - Clock.MonotonicMs)));
        }
        throw new InvalidOperationException($"no response to {key} v{version}");
    }

    private sealed class ListLog(List<string> lines) : IBrokerLog
    {
        public bool IsEnabled(LogLevel level) => level >= LogLevel.Information;
        public void Write(LogLevel level, string template, params object?[] args)
            => lines.Add(level + " " + template + " " + string.Join("|", args));
    }
}
