using DetKafka.Core.Abstractions;
using DetKafka.Core.Client;
using DetKafka.Core.Metadata;
using DetKafka.Core.Protocol;
using DetKafka.Core.Raft;
using DetKafka.Core.Storage;
using DetKafka.Core.Util;

namespace DetKafka.Core.Broker;

// The controller quorum (REPLICATION.md "What exists now"): with controller.quorum.voters set, the metadata log is
// KRaft's __cluster_metadata-0, a RaftReplica over a DiskRaftLog, and its leader is the controller. Admin changes are
// proposed there by the controller only (NOT_CONTROLLER elsewhere); every node applies the entries below the quorum's
// high watermark to its published image, in log order, so every node's image is the same prefix of one history.
// Without voters nothing here runs and the local metadata log (BrokerNode.Metadata.cs) commits on its own sync.
// The node also keeps the registry of Raft-managed logs (TopicPartition -> IRaftEndpoint) the handlers of APIs 52-55
// and replica Fetch route to: the metadata log's endpoint now, data partitions' later.
public sealed partial class BrokerNode
{
    public static readonly TopicPartition MetadataPartition = new(RaftWire.MetadataTopic, 0);
    public const string MetadataRaftLogFile = "__cluster_metadata-0.log";
    public const string MetadataQuorumStateFile = "__cluster_metadata-0.quorum-state";

    /// <summary>Raft sync tokens live far below the metadata log's (which count down from -1) and the partitions'
    /// (positive), so one completion input routes to exactly one owner.</summary>
    private const long RaftTokenBase = -(1L << 56);
    private long _nextRaftToken = RaftTokenBase;

    /// <summary>Waiting admin answers, at most (each is one request's last proposal).</summary>
    private const int QuorumWaitersMax = 16_384;

    private readonly Dictionary<TopicPartition, IRaftEndpoint> _raftEndpoints = new();
    private readonly List<IRaftEndpoint> _raftEndpointsInOrder = new();
    private RaftEndpoint<RaftEntries>? _metadataRaft;
    private DiskRaftLog? _metadataRaftLog;
    private DiskQuorumStateStore? _metadataQuorumStore;
    private long _appliedMetadataOffset = -1;
    private int _controllerEpoch = -1;
    private readonly List<(long Offset, int Epoch, Action<long> Then)> _quorumWaiters = new();
    private readonly Dictionary<long, int> _proposedEpochs = new();

    /// <summary>True when the node runs the metadata log on a Raft quorum (controller.quorum.voters set).</summary>
    public bool IsQuorumMode => Config.ControllerQuorumVoters.Count > 0;

    /// <summary>The metadata log's Raft endpoint (null without a quorum).</summary>
    public RaftEndpoint<RaftEntries>? MetadataQuorum => _metadataRaft;

    /// <summary>The metadata log's quorum-state store (null without a quorum).</summary>
    public DiskQuorumStateStore? MetadataQuorumStore => _metadataQuorumStore;

    /// <summary>The metadata log's entries on this node (null without a quorum).</summary>
    public DiskRaftLog? MetadataRaftLog => _metadataRaftLog;

    /// <summary>The last metadata log offset this node applied to its published image (-1 none).</summary>
    public long AppliedMetadataOffset => _appliedMetadataOffset;

    /// <summary>The controller: this node alone, or the metadata quorum's leader as this node knows it (-1 unknown).
    /// A leader whose view is not built yet (its leader-change entry not committed) names none: it would answer an
    /// admin request NOT_CONTROLLER, so a client that waits for a named controller waits for a ready one.</summary>
    public int ControllerId => !IsQuorumMode ? Config.NodeId
        : _metadataRaft is { Role: RaftRole.Leader } && !IsController ? -1
        : _metadataRaft?.LeaderId ?? -1;

    /// <summary>Whether this node may propose metadata changes: single node, or the quorum's leader once its view
    /// holds every entry of its log.</summary>
    public bool IsController => !IsQuorumMode || (_metadataRaft is { Role: RaftRole.Leader } r && r.Epoch == _controllerEpoch);

    /// <summary>The brokers clients are told about: the voters (combined mode), or this node alone.</summary>
    public IReadOnlyList<QuorumVoter> ClusterBrokers => IsQuorumMode
        ? Config.ControllerQuorumVoters
        : [new QuorumVoter(Config.NodeId, Config.AdvertisedHost, Config.AdvertisedPort)];

    public void RegisterRaftEndpoint(IRaftEndpoint endpoint)
    {
        Check.That(!_raftEndpoints.ContainsKey(endpoint.TopicPartition), "one raft endpoint per topic partition");
        _raftEndpoints.Add(endpoint.TopicPartition, endpoint);
        int at = _raftEndpointsInOrder.FindIndex(e => TopicPartitionComparer.Instance.Compare(e.TopicPartition, endpoint.TopicPartition) > 0);
        _raftEndpointsInOrder.Insert(at < 0 ? _raftEndpointsInOrder.Count : at, endpoint);
    }

    public IRaftEndpoint? FindRaftEndpoint(string? topic, int partition)
        => topic is null ? null : _raftEndpoints.GetValueOrDefault(new TopicPartition(topic, partition));

    /// <summary>A sync token for a Raft-managed log's files (completions come back through OnSyncCompleted).</summary>
    public long AllocateRaftSyncToken() => _nextRaftToken--;

    private static bool IsRaftToken(long token) => token <= RaftTokenBase;

    private string DataPath(string name) => Config.DataDirectory.Length == 0 ? name : Config.DataDirectory + "/" + name;

    /// <summary>Kafka's cluster id for a quorum: the same on every voter without a format step, derived from the
    /// voter list (a stable hash, never string.GetHashCode).</summary>
    private string QuorumClusterId()
    {
        string voters = string.Join(",", Config.ControllerQuorumVoters.Select(v => v.ToString()));
        var bytes = new byte[16];
        ulong h1 = 14695981039346656037UL, h2 = 1099511628211UL;
        foreach (byte b in System.Text.Encoding.UTF8.GetBytes(voters))
        {
            h1 = (h1 ^ b) * 1099511628211UL;
            h2 = (h2 + b) * 0x9E3779B97F4A7C15UL;
        }
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(bytes, h1);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(8), h2);
        return Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }

    /// <summary>Start-up with a quorum: the metadata log's files, its replica and endpoint, and the peer client that
    /// carries its messages (bootstrapped from the other voters). The published image starts empty and follows the
    /// quorum's high watermark (entries are applied once committed, never from the local log alone).</summary>
    private void StartQuorum()
    {
        var voters = Config.ControllerQuorumVoters;
        var keys = voters.Select(v => new ReplicaKey(v.NodeId, DiskQuorumStateStore.StaticVoterDirectoryId(v.NodeId)));
        _metadataRaftLog = new DiskRaftLog(Disk, DataPath(MetadataRaftLogFile), AllocateRaftSyncToken, Log);
        _metadataQuorumStore = new DiskQuorumStateStore(Disk, DataPath(MetadataQuorumStateFile), AllocateRaftSyncToken, Log,
            DiskQuorumStateStore.StaticVoterDirectoryId(Config.NodeId));
        var replica = new RaftReplica<RaftEntries>(Config.NodeId, new VoterSet(keys), _metadataRaftLog, _metadataQuorumStore, Random,
            Config.ControllerQuorum, Clock.MonotonicMs, Config.TestOnlyRaftBugs);
        _metadataRaft = new RaftEndpoint<RaftEntries>(MetadataPartition, replica, new PeerTransport(this), DiskRaftLog.Encode, DiskRaftLog.Decode,
            _metadataRaftLog.TryCompleteSync, _metadataQuorumStore, Log, Clock, ClusterId, 1 << 20, Config.ControllerQuorum.RequestTimeoutMs);
        RegisterRaftEndpoint(_metadataRaft);
        var peers = voters.Where(v => v.NodeId != Config.NodeId).Select(v => new BrokerAddress(v.Host, v.Port)).ToList();
        if (peers.Count > 0)
            StartPeerClient(new KafkaClientOptions
            {
                BootstrapServers = peers,
                ClientId = "detkafka-node-" + Config.NodeId.ToString(System.Globalization.CultureInfo.InvariantCulture),
                RequestTimeoutMs = Math.Max(Config.ControllerQuorum.RequestTimeoutMs, Config.ControllerQuorum.FetchMaxWaitMs * 2),
                // Every replicated partition's follower keeps a fetch parked at its leader, on the one connection to
                // that node: the client's default of 5 in flight would starve the metadata log's fetch (one Fetch per
                // node pair carrying every partition, as Kafka's fetcher does, is left: REPLICATION.md).
                MaxInFlightRequestsPerConnection = Config.MaxInFlightRequestsPerConnection,
            });
        Log.Info("Node {NodeId}: metadata quorum of {Voters} (log end {End}, epoch {Epoch})", Config.NodeId,
            string.Join(",", voters.Select(v => v.ToString())), _metadataRaftLog.LogEndOffset, replica.Epoch);
    }

    private sealed class PeerTransport(BrokerNode node) : IRaftTransport
    {
        public bool TrySend(int destination, ApiKey key, IKafkaMessage body, Action<IKafkaMessage?> onResponse)
        {
            if (node.PeerClient is not { } client || !client.Ready(destination)) return false;
            client.Send(destination, key, body, r => onResponse(r.Status == ResponseStatus.Ok ? r.Body : null));
            return true;
        }
    }

    // ---- driving ---------------------------------------------------------------------------------------------------

    private long RaftNextDeadlineMs
    {
        get
        {
            long d = long.MaxValue;
            foreach (var e in _raftEndpointsInOrder) d = Math.Min(d, e.NextDeadlineMs);
            return d;
        }
    }

    private void PollRaft(long nowMs)
    {
        foreach (var e in _raftEndpointsInOrder)
            if (e.NextDeadlineMs <= nowMs) e.Poll(nowMs);
    }

    private bool TryRaftSyncCompleted(long token, DiskStatus status)
    {
        if (!IsRaftToken(token)) return false;
        foreach (var e in _raftEndpointsInOrder)
            if (e.OnSyncCompleted(token, status, Clock.MonotonicMs)) return true;
        return true; // a token of a log that is gone: ignored
    }

    /// <summary>After every input: apply what the quorum committed, take or give up the controller's role, and
    /// answer the admin requests whose proposals resolved.</summary>
    private void AfterQuorumStep()
    {
        if (_metadataRaft is not { } raft || !_started) return;
        var log = _metadataRaftLog!;
        long hw = Math.Min(raft.HighWatermark, log.LogEndOffset);
        while (_appliedMetadataOffset + 1 < hw)
        {
            long offset = _appliedMetadataOffset + 1;
            var entry = log.EntryAt(offset)!;
            _appliedMetadataOffset = offset;
            if (!entry.Control)
            {
                var records = DecodeMetadataEntry(entry);
                PublishCommitted(records);
                if (!IsController) _controller.ResetTo(_published);
            }
            AppliedMetadata.Add(new AppliedMetadataEntry(offset, entry.Epoch, Crc32OfPayload(entry)));
            ResolveQuorumWaiters(entry);
        }
        if (raft.Role == RaftRole.Leader && _controllerEpoch != raft.Epoch && hw > raft.Replica.EpochStartOffset && raft.Replica.EpochStartOffset >= 0)
        {
            // Elected, and its leader-change entry committed: everything in its log is the history now. The view
            // proposals are checked against is the published image plus whatever of that log is not applied yet.
            _controllerEpoch = raft.Epoch;
            _controller.ResetTo(_published);
            for (long o = _appliedMetadataOffset + 1; o < log.LogEndOffset; o++)
                if (log.EntryAt(o) is { Control: false } e)
                    foreach (var record in DecodeMetadataEntry(e)) _controller.Apply(record);
            Log.Info("Node {NodeId} is the controller in epoch {Epoch}", Config.NodeId, raft.Epoch);
        }
        else if (_controllerEpoch >= 0 && (raft.Role != RaftRole.Leader || raft.Epoch != _controllerEpoch))
        {
            Log.Info("Node {NodeId} is no longer the controller (epoch {Epoch}, leader {Leader})", Config.NodeId, raft.Epoch, raft.LeaderId);
            _controllerEpoch = -1;
            _controller.ResetTo(_published);
            // Proposals of the lost epoch may still commit under the next leader, or not: their requests are told
            // they failed (NOT_CONTROLLER; never acknowledged), and the client retries against the new controller.
            var abandoned = _quorumWaiters.ToArray();
            _quorumWaiters.Clear();
            _proposedEpochs.Clear();
            foreach (var w in abandoned) w.Then(-1);
        }
    }

    private void ResolveQuorumWaiters(RaftEntry applied)
    {
        if (_quorumWaiters.Count == 0) return;
        List<(long, int, Action<long>)>? ready = null;
        _quorumWaiters.RemoveAll(w =>
        {
            if (w.Offset > applied.Offset) return false;
            (ready ??= new()).Add(w);
            return true;
        });
        _proposedEpochs.Remove(applied.Offset);
        if (ready is null) return;
        foreach (var (offset, epoch, then) in ready)
        {
            // Committed iff the entry at the offset is the one proposed: same epoch (log matching).
            bool committed = _metadataRaftLog!.EntryAt(offset)?.Epoch == epoch && offset <= _appliedMetadataOffset;
            then(committed ? offset : -1);
        }
    }

    private static List<MetadataRecord> DecodeMetadataEntry(RaftEntry entry)
    {
        var status = MetadataCodec.TryReadBatch(entry.Payload, 0, out _, out var records, out _);
        Check.That(status == MetadataCodec.FrameStatus.Ok, "a committed metadata entry decodes");
        return records;
    }

    private static uint Crc32OfPayload(RaftEntry e) => Records.Crc32C.Compute(e.Payload) ^ (e.Control ? 0x5A5A5A5Au : 0);

    /// <summary>What this node applied, in order (offset, epoch, payload CRC): the simulator checks that every node's
    /// list is a prefix of every other's.</summary>
    public List<AppliedMetadataEntry> AppliedMetadata { get; } = new();

    // ---- proposals -------------------------------------------------------------------------------------------------

    /// <summary>Quorum mode: a proposal goes to the Raft log as one entry (a metadata record batch), by the controller only.</summary>
    private (ErrorCode Error, string? Message) ProposeToQuorum(List<MetadataRecord> records, string what, out long offset)
    {
        offset = -1;
        if (!IsController) return (ErrorCode.NotController, NotControllerMessage);
        if (_quorumWaiters.Count >= QuorumWaitersMax) return (ErrorCode.ThrottlingQuotaExceeded, "Too many metadata changes in flight.");
        using var w = new KafkaWriter(256);
        MetadataCodec.WriteBatch(w, 0, records);
        offset = _metadataRaft!.Propose(new RaftEntries([new RaftEntry(-1, -1, false, w.WrittenSpan.ToArray())]), Clock.MonotonicMs);
        if (offset < 0) return (ErrorCode.NotController, NotControllerMessage);
        _proposedEpochs[offset] = _metadataRaft.Epoch;
        foreach (var record in records) _controller.Apply(record);
        Log.Info("Proposed {What} at metadata offset {Offset} (epoch {Epoch})", what, offset, _metadataRaft.Epoch);
        return (ErrorCode.None, null);
    }

    internal const string NotControllerMessage = "This node is not the controller; ask the controller the Metadata response names.";

    /// <summary>The admin paths' first check: NOT_CONTROLLER away from the controller (nothing is validated there:
    /// this node's view may be behind).</summary>
    internal (ErrorCode Error, string? Message)? NotControllerError() => IsController ? null : (ErrorCode.NotController, NotControllerMessage);

    private void WhenQuorumResolved(long offset, Action<long> then)
    {
        if (offset <= _appliedMetadataOffset)
        {
            then(_metadataRaftLog!.EntryAt(offset) is { } e && (!_proposedEpochs.TryGetValue(offset, out int ep) || ep == e.Epoch) ? offset : -1);
            return;
        }
        if (!IsController || !_proposedEpochs.TryGetValue(offset, out int epoch)) epoch = _metadataRaft!.Epoch;
        _quorumWaiters.Add((offset, epoch, then));
    }

    /// <summary>The last metadata offset proposed (what "wait for everything in flight" waits for).</summary>
    internal long LastProposedMetadataOffset => IsQuorumMode ? _metadataRaftLog!.LogEndOffset - 1 : _metadataLog.NextOffset - 1;

    /// <summary>Auto-creation at a node that is not the controller: a CreateTopics (num.partitions, replication
    /// factor 1) sent to the controller through the peer client, fire and forget (the client that asked retries its
    /// Metadata; a lost forward is sent again on its next Metadata request).</summary>
    internal void ForwardAutoCreate(string topic)
    {
        int controller = ControllerId;
        if (controller < 0 || controller == Config.NodeId || PeerClient is not { } client || !client.Ready(controller)) return;
        client.Send(controller, ApiKey.CreateTopics, new Protocol.Messages.CreateTopicsRequest
        {
            TimeoutMs = 30_000,
            Topics = [new Protocol.Messages.CreateTopicsRequest.CreatableTopic { Name = topic, NumPartitions = Config.NumPartitions, ReplicationFactor = 1 }],
        }, _ => { });
    }

    // ---- placement ---------------------------------------------------------------------------------------------------

    /// <summary>
    /// Replicas of new partitions: the voters sorted by node id, partition p's replicas the <paramref name="factor"/>
    /// voters from (start + p) round-robin, start derived from the topic name by a stable hash (never
    /// string.GetHashCode), so leaders (the first replica) spread over the nodes and every controller places alike.
    /// </summary>
    internal static int[] PlaceReplicas(IReadOnlyList<QuorumVoter> voters, string topic, int partition, int factor)
    {
        Check.That(factor >= 1 && factor <= voters.Count);
        uint h = 2166136261;
        foreach (char c in topic) h = (h ^ c) * 16777619;
        int start = (int)(h % (uint)voters.Count);
        var replicas = new int[factor];
        for (int k = 0; k < factor; k++) replicas[k] = voters[(start + partition + k) % voters.Count].NodeId;
        return replicas;
    }
}

/// <summary>One metadata log entry a node applied: offset, epoch and a CRC of its content.</summary>
public readonly record struct AppliedMetadataEntry(long Offset, int Epoch, uint Crc);
