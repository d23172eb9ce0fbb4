using System.Buffers.Binary;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Raft;
using DetKafka.Sim;

namespace DetKafka.Properties.Quorum;

internal static class QuorumConfigExtensions
{
    public static BrokerConfig WithTestOnlyAnswerAdminOnAppend(this BrokerConfig c, bool on)
    {
        if (!on) return c;
        return new BrokerConfig
        {
            NodeId = c.NodeId, AdvertisedHost = c.AdvertisedHost, AdvertisedPort = c.AdvertisedPort, DataDirectory = c.DataDirectory,
            ControllerQuorumVoters = c.ControllerQuorumVoters, AutoCreateTopicsEnable = c.AutoCreateTopicsEnable, TestOnlyAnswerAdminOnAppend = true,
            TestOnlyRaftBugs = c.TestOnlyRaftBugs,
        };
    }

    /// <summary>The planted bug of replicated partitions: acks=all answered at the leader's own sync.</summary>
    public static BrokerConfig WithAcksAllAtLeaderSync(this BrokerConfig c, bool on)
    {
        if (!on) return c;
        return new BrokerConfig
        {
            NodeId = c.NodeId, AdvertisedHost = c.AdvertisedHost, AdvertisedPort = c.AdvertisedPort, DataDirectory = c.DataDirectory,
            ControllerQuorumVoters = c.ControllerQuorumVoters, AutoCreateTopicsEnable = c.AutoCreateTopicsEnable,
            TestOnlyAnswerAdminOnAppend = c.TestOnlyAnswerAdminOnAppend, TestOnlyRaftBugs = c.TestOnlyRaftBugs,
            TestOnlyAnswerAcksAllAtLeaderSync = true,
        };
    }

    public static BrokerConfig WithRaftBugs(this BrokerConfig c, RaftPlantedBugs bugs)
    {
        if (bugs == RaftPlantedBugs.None) return c;
        return new BrokerConfig
        {
            NodeId = c.NodeId, AdvertisedHost = c.AdvertisedHost, AdvertisedPort = c.AdvertisedPort, DataDirectory = c.DataDirectory,
            ControllerQuorumVoters = c.ControllerQuorumVoters, AutoCreateTopicsEnable = c.AutoCreateTopicsEnable,
            TestOnlyAnswerAdminOnAppend = c.TestOnlyAnswerAdminOnAppend, TestOnlyRaftBugs = bugs,
        };
    }
}

/// <summary>
/// A small deterministic cluster of BrokerNodes with a controller quorum, for tests: one manual clock, one FIFO of
/// deliveries, a SimDisk per node (syncs complete each round; a crash keeps what syncs covered), links that can be
/// cut both ways (messages across a cut are lost, connects fail), and raw admin connections from the test.
/// </summary>
public sealed class QuorumCluster
{
    private readonly Queue<Action> _pending = new();
    private readonly Dictionary<long, (int A, int B)> _links = new(); // node index, -1 for the test's client side
    private readonly HashSet<(int, int)> _cut = new();
    private readonly Dictionary<long, List<byte>> _clientBytes = new();
    private long _nextId = 1;
    private readonly int _seed;
    private int _incarnation;

    public QuorumCluster(int nodes, int seed = 1, Func<int, BrokerConfig, BrokerConfig>? configure = null)
    {
        _seed = seed;
        Voters = Enumerable.Range(1, nodes).Select(i => new QuorumVoter(i, "n" + i, 9092)).ToList();
        Disks = Enumerable.Range(0, nodes).Select(_ => new SimDisk()).ToArray();
        Nodes = new BrokerNode?[nodes];
        _configure = configure;
        for (int i = 0; i < nodes; i++) Start(i);
    }

    private readonly Func<int, BrokerConfig, BrokerConfig>? _configure;
    public List<QuorumVoter> Voters { get; }
    public ManualClock Clock { get; } = new();
    public SimDisk[] Disks { get; }
    public BrokerNode?[] Nodes { get; }

    public void Start(int i)
    {
        var config = new BrokerConfig
        {
            NodeId = i + 1, AdvertisedHost = "n" + (i + 1), AdvertisedPort = 9092, DataDirectory = "data",
            ControllerQuorumVoters = Voters, AutoCreateTopicsEnable = false,
        };
        if (_configure is not null) config = _configure(i, config);
        var node = new BrokerNode(config, Clock, Disks[i], new Net(this, i), new SeededRandom((ulong)(_seed * 1000 + i * 10 + _incarnation++)),
            Environment.GetEnvironmentVariable("QDEBUG") == (i + 1).ToString() ? new ConsoleLog(Clock, i + 1) : NullBrokerLog.Instance);
        Nodes[i] = node;
        node.Start();
    }

    private sealed class ConsoleLog(ManualClock clock, int node) : IBrokerLog
    {
        public bool IsEnabled(LogLevel level) => true;
        public void Write(LogLevel level, string template, params object?[] args)
        {
            int i = 0;
            string text = System.Text.RegularExpressions.Regex.Replace(template, @"\{[A-Za-z]+\}", _ => i < args.Length ? args[i++]?.ToString() ?? "null" : "?");
            Console.Error.WriteLine($"[{clock.MonotonicMs} n{node}] {text}");
        }
    }

    /// <summary>Power loss: the node stops, its disk keeps only what syncs covered, its peers see its connections close.</summary>
    public void Crash(int i)
    {
        Nodes[i] = null;
        Disks[i].Crash();
        foreach (var (id, (a, b)) in _links.ToList())
        {
            if (a != i && b != i) continue;
            _links.Remove(id);
            int other = a == i ? b : a;
            if (other >= 0 && Nodes[other] is { } n) _pending.Enqueue(() => n.OnConnectionClosed(new ConnectionId(id)));
        }
    }

    public void Cut(int a, int b) { _cut.Add((a, b)); _cut.Add((b, a)); }
    public void Heal() => _cut.Clear();
    private bool IsCut(int a, int b) => a >= 0 && b >= 0 && _cut.Contains((a, b));

    private sealed class Net(QuorumCluster c, int self) : INetwork
    {
        public void Send(ConnectionId connection, ReadOnlySpan<byte> bytes)
        {
            if (!c._links.TryGetValue(connection.Value, out var link)) return;
            int other = link.A == self ? link.B : link.A;
            if (c.IsCut(self, other)) return;
            var copy = bytes.ToArray();
            if (other < 0) { c._clientBytes[connection.Value].AddRange(copy); return; }
            c._pending.Enqueue(() => { if (c._links.ContainsKey(connection.Value)) c.Nodes[other]?.OnReceive(connection, copy); });
        }

        public void Close(ConnectionId connection)
        {
            if (!c._links.Remove(connection.Value, out var link)) return;
            int other = link.A == self ? link.B : link.A;
            if (other >= 0) c._pending.Enqueue(() => c.Nodes[other]?.OnConnectionClosed(connection));
        }

        public void SetReceiveEnabled(ConnectionId connection, bool enabled) { }

        public ConnectionId Connect(string host, int port)
        {
            var id = new ConnectionId(c._nextId++);
            int target = c.Voters.FindIndex(v => v.Host == host && v.Port == port);
            if (target < 0 || c.Nodes[target] is null || c.IsCut(self, target))
            {
                c._pending.Enqueue(() => c.Nodes[self]?.OnConnectFailed(id));
                return id;
            }
            c._links.Add(id.Value, (self, target));
            c._pending.Enqueue(() =>
            {
                if (!c._links.ContainsKey(id.Value)) return;
                c.Nodes[target]?.OnConnectionOpened(id);
                c.Nodes[self]?.OnConnected(id);
            });
            return id;
        }
    }

    /// <summary>One round: every queued delivery, every completed sync, 1 ms, every due poll.</summary>
    public void Step()
    {
        for (int guard = 0; _pending.Count > 0; guard++)
        {
            if (guard > 1_000_000) throw new InvalidOperationException("deliveries do not end");
            _pending.Dequeue()();
            CheckQuorumStateDurable();
        }
        for (int i = 0; i < Nodes.Length; i++)
        {
            if (Nodes[i] is not { } n) { Disks[i].CompletePendingSyncs(); continue; }
            foreach (var (token, status) in Disks[i].CompletePendingSyncs())
            {
                n.OnSyncCompleted(token, status);
                CheckQuorumStateDurable();
            }
        }
        Clock.Advance(1);
        foreach (var n in Nodes)
            if (n is not null && n.NextDeadlineMs <= Clock.MonotonicMs) n.Poll();
        CheckQuorumStateDurable();
        AfterStep?.Invoke();
    }

    /// <summary>A test's own invariant, checked after every round.</summary>
    public Action? AfterStep { get; set; }

    /// <summary>The first quorum-state-durable violation seen: a replica acting on a state (an epoch, a vote) that is
    /// not what its store was last asked to write, with no write in flight.</summary>
    public string? DurabilityViolation { get; private set; }

    private void CheckQuorumStateDurable()
    {
        if (DurabilityViolation is not null) return;
        foreach (var n in Nodes)
        {
            if (n?.MetadataQuorum is not { } q || !q.Replica.QuorumStateDurable) continue;
            if (n.MetadataQuorumStore!.LastWritten is { } written && written != q.Replica.QuorumState)
                DurabilityViolation = $"quorum-state-durable: node {n.Config.NodeId} acts on {q.Replica.QuorumState} but its store holds {written} (t={Clock.MonotonicMs})";
        }
    }

    public bool Run(Func<bool> until, int maxMs = 60_000)
    {
        for (int ms = 0; ms < maxMs; ms++)
        {
            if (until()) return true;
            Step();
        }
        return until();
    }

    public void RunFor(int ms) { for (int i = 0; i < ms; i++) Step(); }

    /// <summary>The index of the node that is controller (leads the metadata quorum with its view built), or -1.</summary>
    public int Controller()
    {
        for (int i = 0; i < Nodes.Length; i++)
            if (Nodes[i] is { IsController: true }) return i;
        return -1;
    }

    // ---- a raw admin client ------------------------------------------------------------------------------------

    private int _correlation = 1;

    /// <summary>Sends one request to node <paramref name="i"/> on a fresh connection and runs until the answer
    /// arrives (null when it does not within <paramref name="maxMs"/>).</summary>
    public T? Ask<T>(int i, ApiKey key, short version, IKafkaMessage body, int maxMs = 30_000) where T : class, IKafkaMessage
    {
        var node = Nodes[i] ?? throw new InvalidOperationException("node is down");
        var id = new ConnectionId(_nextId++);
        _links.Add(id.Value, (-1, i));
        _clientBytes[id.Value] = new List<byte>();
        node.OnConnectionOpened(id);
        int correlation = _correlation++;
        var frame = ClientCodec.EncodeRequest(key, version, correlation, "test-admin", body);
        node.OnReceive(id, frame);
        T? answer = null;
        Run(() =>
        {
            var bytes = _clientBytes[id.Value];
            if (bytes.Count < 4) return false;
            int size = BinaryPrimitives.ReadInt32BigEndian(bytes.ToArray());
            if (bytes.Count < 4 + size) return false;
            var payload = bytes.Skip(4).Take(size).ToArray();
            answer = (T)ClientCodec.DecodeResponse(key, version, new ArraySegment<byte>(payload), out _);
            return true;
        }, maxMs);
        if (_links.Remove(id.Value)) Nodes[i]?.OnConnectionClosed(id);
        _clientBytes.Remove(id.Value);
        return answer;
    }

    public CreateTopicsResponse.CreatableTopicResult? CreateTopic(int i, string name, int partitions, short replicationFactor, int maxMs = 30_000)
    {
        var r = Ask<CreateTopicsResponse>(i, ApiKey.CreateTopics, 5, new CreateTopicsRequest
        {
            TimeoutMs = 30_000,
            Topics = [new CreateTopicsRequest.CreatableTopic { Name = name, NumPartitions = partitions, ReplicationFactor = replicationFactor }],
        }, maxMs);
        return r?.Topics.Single();
    }

    /// <summary>CreateTopics with topic configs (min.insync.replicas, ...).</summary>
    public CreateTopicsResponse.CreatableTopicResult? CreateTopic(int i, string name, int partitions, short replicationFactor,
        IReadOnlyDictionary<string, string> configs, int maxMs = 30_000)
    {
        var r = Ask<CreateTopicsResponse>(i, ApiKey.CreateTopics, 5, new CreateTopicsRequest
        {
            TimeoutMs = 30_000,
            Topics = [new CreateTopicsRequest.CreatableTopic
            {
                Name = name, NumPartitions = partitions, ReplicationFactor = replicationFactor,
                Configs = configs.Select(kv => new CreateTopicsRequest.CreatableTopicConfig { Name = kv.Key, Value = kv.Value }).ToList(),
            }],
        }, maxMs);
        return r?.Topics.Single();
    }

    /// <summary>The node index leading a replicated partition (its Raft replica leads and the partition follows), or -1.</summary>
    public int PartitionLeader(string topic, int partition)
    {
        for (int i = 0; i < Nodes.Length; i++)
            if (Nodes[i]?.Replicas.GetPartition(topic, partition) is { Replica: not null, IsLeader: true }) return i;
        return -1;
    }

    public ErrorCode? DeleteTopic(int i, string name)
    {
        var r = Ask<DeleteTopicsResponse>(i, ApiKey.DeleteTopics, 4, new DeleteTopicsRequest { TimeoutMs = 30_000, TopicNames = [name] });
        return r?.Responses.Single().ErrorCode;
    }

    public string Describe() => string.Join("; ", Nodes.Where(n => n is not null).Select(n => $"node {n!.Config.NodeId}: {n.MetadataQuorum!.Role} epoch {n.MetadataQuorum.Epoch} leader {n.MetadataQuorum.LeaderId} hw {n.MetadataQuorum.HighWatermark} end {n.MetadataRaftLog!.LogEndOffset} synced {n.MetadataRaftLog.SyncedEndOffset} applied {n.AppliedMetadataOffset} waiting {n.MetadataQuorum.WaitingCount} peers {n.PeerConnectionCount} t={Clock.MonotonicMs}"));

    /// <summary>Every running node's applied metadata is a prefix of every other's (same entries, same order).</summary>
    public string? CheckPrefixes()
    {
        var lists = Nodes.Where(n => n is not null).Select(n => (n!.Config.NodeId, n.AppliedMetadata)).ToList();
        foreach (var (a, la) in lists)
            foreach (var (b, lb) in lists)
            {
                int common = Math.Min(la.Count, lb.Count);
                for (int k = 0; k < common; k++)
                    if (la[k] != lb[k]) return $"nodes {a} and {b} applied different entries at position {k}: {la[k]} vs {lb[k]}";
            }
        return null;
    }
}
