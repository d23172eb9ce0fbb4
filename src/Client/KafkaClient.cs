using System.Buffers.Binary;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Util;

namespace DetKafka.Core.Client;

/// <summary>How a request ended, from the client's side.</summary>
public enum ResponseStatus
{
    /// <summary>A response arrived and decoded: <see cref="ClientResponse.Body"/> holds it.</summary>
    Ok,

    /// <summary>The connection closed after the request was handed to the network: it may or may not have
    /// been processed.</summary>
    Disconnected,

    /// <summary>No response within request.timeout.ms: the connection was closed; processed or not is unknown.</summary>
    TimedOut,

    /// <summary>Client and broker share no version of the API: nothing was sent.</summary>
    Unsupported,

    /// <summary>Handed to the network and no response is expected (Produce with acks=0).</summary>
    SentWithoutResponse,
}

public readonly record struct ClientResponse(ResponseStatus Status, IKafkaMessage? Body, short Version)
{
    /// <summary>True when the request's bytes left the client, so the broker may have acted on it.</summary>
    public bool MayHaveBeenProcessed => Status != ResponseStatus.Unsupported;
}

/// <summary>A part of a client process driven by <see cref="KafkaClient.Poll"/> (the producer, the consumer).</summary>
public interface IClientComponent
{
    void Poll(long nowMs);

    /// <summary>The earliest client monotonic time at which <see cref="Poll"/> has timed work; long.MaxValue when none.</summary>
    long NextDeadlineMs { get; }
}

/// <summary>
/// The network layer of a Kafka client as a deterministic state machine, Kafka's NetworkClient in spirit: one
/// connection per broker (bootstrap addresses get negative node ids), an ApiVersions handshake on each (v3,
/// falling back to v0 on UNSUPPORTED_VERSION), per-API version negotiation, requests pipelined up to
/// max.in.flight with responses matched in order by correlation id, request timeouts that close the
/// connection, exponential reconnect backoff with seeded jitter, and the metadata cache.
/// <para>Inputs, one at a time from one thread: <see cref="OnConnected"/>, <see cref="OnReceive"/>,
/// <see cref="OnClosed"/>; the driver calls <see cref="Poll"/> after every input and once the clock passes
/// <see cref="NextDeadlineMs"/>. Callbacks run inside those calls. Outputs go through <see cref="IClientNetwork"/>.
/// No I/O, clock or randomness of its own: the same code serves the simulator and the load generator.</para>
/// </summary>
public sealed class KafkaClient
{
    /// <summary>Versions this client can speak per API (its codec and semantics), before negotiation.</summary>
    private static (short Min, short Max)? ClientRange(ApiKey key) => key switch
    {
        ApiKey.Produce => (3, 9),
        ApiKey.Fetch => (4, 12),
        ApiKey.ListOffsets => (1, 7),
        ApiKey.Metadata => (1, 9),
        ApiKey.ApiVersions => (0, 3),
        ApiKey.CreateTopics => (0, 7),
        ApiKey.InitProducerId => (0, 4),
        // The admin calls (AdminClient), at every version the codec knows.
        ApiKey.DeleteTopics => (0, 6),
        ApiKey.DeleteRecords => (0, 2),
        ApiKey.DescribeConfigs => (0, 4),
        ApiKey.AlterConfigs => (0, 2),
        ApiKey.CreatePartitions => (0, 3),
        ApiKey.IncrementalAlterConfigs => (0, 1),
        ApiKey.DescribeCluster => (0, 1),
        ApiKey.Vote => (0, 2),
        ApiKey.BeginQuorumEpoch => (0, 1),
        ApiKey.EndQuorumEpoch => (0, 1),
        ApiKey.DescribeQuorum => (0, 2),
        ApiKey.AllocateProducerIds => (0, 0), // a broker asking the controller for producer ids
        ApiKey.WriteTxnMarkers => (0, 1), // a transaction coordinator asking a partition leader for markers
        ApiKey.FindCoordinator => (0, 4),
        ApiKey.JoinGroup => (0, 9),
        ApiKey.SyncGroup => (0, 5),
        ApiKey.Heartbeat => (0, 4),
        ApiKey.LeaveGroup => (0, 5),
        ApiKey.OffsetCommit => (0, 8),
        ApiKey.OffsetFetch => (0, 8),
        ApiKey.ListGroups => (0, 4),
        ApiKey.DescribeGroups => (0, 5),
        ApiKey.DeleteGroups => (0, 2),
        ApiKey.OffsetDelete => (0, 0),
        // The transactional producer (TransactionalProducer.cs).
        ApiKey.AddPartitionsToTxn => (0, 3),
        ApiKey.AddOffsetsToTxn => (0, 3),
        ApiKey.EndTxn => (0, 5),
        ApiKey.TxnOffsetCommit => (0, 3),
        _ => null,
    };

    private const int ReceiveBufferInitialBytes = 16 * 1024;

    private readonly IClientNetwork _network;
    private readonly IRandom _random;
    private readonly KafkaWriter _writer = new(4096);
    private readonly Dictionary<ConnectionId, Connection> _byId = new();
    // Nodes by id for lookups, and in id order for every scan (deterministic, no enumerator allocation).
    private readonly Dictionary<int, NodeState> _nodes = new();
    private readonly List<NodeState> _nodeList = new();
    private readonly SortedSet<string> _topics = new(StringComparer.Ordinal);
    private readonly List<IClientComponent> _components = new();
    private int _nextCorrelationId = 1;
    private bool _metadataWanted = true;
    private bool _metadataInFlight;
    private long _metadataRetryAtMs;
    private int _bootstrapCursor;
    private bool _closed;

    public KafkaClient(KafkaClientOptions options, IClock clock, IClientNetwork network, IRandom random)
    {
        options.Validate();
        Options = options;
        Clock = clock;
        _network = network;
        _random = random;
        for (int i = 0; i < options.BootstrapServers.Count; i++) AddNode(BootstrapNodeId(i));
    }

    public KafkaClientOptions Options { get; }
    public IClock Clock { get; }
    public ClusterMetadata Metadata { get; } = new();

    /// <summary>Told when the client gives up on a connection (bad frame, out-of-order response, timeout): for
    /// traces and the load generator's error counts.</summary>
    public Action<ConnectionId, string>? ConnectionDropped { get; set; }

    /// <summary>Told when a connection closes before it was ready (refused, unreachable, handshake failed), with
    /// the address it was for: a one-shot tool gives up on an unreachable broker instead of backing off.</summary>
    public Action<BrokerAddress>? ConnectFailed { get; set; }

    /// <summary>The API version ranges a node announced in its ApiVersions response; null until its connection is ready.</summary>
    public IReadOnlyDictionary<ApiKey, (short Min, short Max)>? BrokerApiVersions(int nodeId)
        => _nodes.TryGetValue(nodeId, out var node) && node.Connection is { State: ConnectionState.Ready } c ? c.BrokerVersions : null;

    /// <summary>The versions of an API this client can speak, before negotiation; null when it cannot.</summary>
    public static (short Min, short Max)? SupportedVersions(ApiKey key) => ClientRange(key);

    /// <summary>Connections open or being opened.</summary>
    public int ConnectionCount => _byId.Count;

    /// <summary>Requests handed to the network and not yet answered, over all connections.</summary>
    public int InFlightCount
    {
        get
        {
            int n = 0;
            foreach (var node in _nodeList) n += node.Connection?.InFlight.Count ?? 0;
            return n;
        }
    }

    private static int BootstrapNodeId(int index) => -1 - index;

    private enum ConnectionState { Connecting, Negotiating, Ready }

    private sealed class Connection(ConnectionId id, int nodeId, long startedMs)
    {
        public readonly ConnectionId Id = id;
        public readonly int NodeId = nodeId;
        public readonly long StartedMs = startedMs;
        public readonly Queue<InFlightRequest> InFlight = new();
        public readonly Dictionary<ApiKey, (short Min, short Max)> BrokerVersions = new();
        public ConnectionState State = ConnectionState.Connecting;
        public byte[] Buffer = new byte[ReceiveBufferInitialBytes];
        public int Buffered;
        public bool Open = true;
    }

    private sealed record InFlightRequest(int CorrelationId, ApiKey Key, short Version, long DeadlineMs, Action<ClientResponse> Callback);

    private sealed class NodeState(int nodeId)
    {
        public readonly int NodeId = nodeId;
        public Connection? Connection;
        public long ReconnectAtMs;

        /// <summary>A component asked for this node while it was backing off: wake up when it may connect.</summary>
        public bool ConnectWanted;
        public int Failures;
    }

    // ---- registration ------------------------------------------------------------------------------------

    /// <summary>Producers and consumers register so <see cref="Poll"/> drives them.</summary>
    public void Register(IClientComponent component)
    {
        Check.That(!_components.Contains(component), "a component registers once");
        _components.Add(component);
    }

    /// <summary>Topics whose metadata the client keeps (Metadata requests name exactly these).</summary>
    public void AddTopic(string topic)
    {
        if (_topics.Add(topic)) _metadataWanted = true;
    }

    /// <summary>Ask for fresh metadata at the next opportunity (a leader moved, a partition is unknown).</summary>
    public void RequestMetadataUpdate() => _metadataWanted = true;

    // ---- inputs ------------------------------------------------------------------------------------------

    public void OnConnected(ConnectionId id)
    {
        if (!_byId.TryGetValue(id, out var c) || c.State != ConnectionState.Connecting) return;
        c.State = ConnectionState.Negotiating;
        var versions = new ApiVersionsRequest { ClientSoftwareName = "detkafka", ClientSoftwareVersion = "0.1" };
        short version = Cap(ApiKey.ApiVersions, 3);
        Write(c, ApiKey.ApiVersions, version, versions, response => OnApiVersions(c, response, version));
    }

    public void OnReceive(ConnectionId id, ReadOnlySpan<byte> bytes)
    {
        if (!_byId.TryGetValue(id, out var c)) return;
        long needed = (long)c.Buffered + bytes.Length;
        if (needed > (long)Options.ResponseBytesMax + Frame.SizePrefixBytes)
        {
            Drop(c, "receive buffer bound exceeded");
            return;
        }
        if (needed > c.Buffer.Length)
        {
            var next = new byte[(int)Math.Max(needed, Math.Min((long)c.Buffer.Length * 2, (long)Options.ResponseBytesMax + Frame.SizePrefixBytes))];
            System.Buffer.BlockCopy(c.Buffer, 0, next, 0, c.Buffered);
            c.Buffer = next;
        }
        bytes.CopyTo(c.Buffer.AsSpan(c.Buffered));
        c.Buffered += bytes.Length;

        int consumed = 0;
        while (c.Open)
        {
            var status = Frame.TryReadFrame(c.Buffer.AsSpan(consumed, c.Buffered - consumed), Options.ResponseBytesMax, out int length);
            if (status == FrameStatus.NeedMoreData) break;
            if (status == FrameStatus.Invalid)
            {
                Drop(c, "invalid response frame size");
                return;
            }
            // Copy out unless asked not to: a decoded body may keep slices of its payload (fetched records), and
            // the buffer is compacted and reused once this input returns.
            var payload = Options.DecodeResponsesInPlace
                ? new ArraySegment<byte>(c.Buffer, consumed + Frame.SizePrefixBytes, length)
                : new ArraySegment<byte>(c.Buffer.AsSpan(consumed + Frame.SizePrefixBytes, length).ToArray());
            consumed += Frame.SizePrefixBytes + length;
            HandleResponse(c, payload);
        }
        if (!c.Open) return;
        System.Buffer.BlockCopy(c.Buffer, consumed, c.Buffer, 0, c.Buffered - consumed);
        c.Buffered -= consumed;
        if (c.Buffered == 0 && c.Buffer.Length > Math.Max(ReceiveBufferInitialBytes, Options.ReceiveBufferKeepBytes))
            c.Buffer = new byte[ReceiveBufferInitialBytes];
    }

    public void OnClosed(ConnectionId id)
    {
        if (!_byId.TryGetValue(id, out var c)) return;
        Closed(c, ResponseStatus.Disconnected);
    }

    /// <summary>Timeouts, reconnects, metadata refresh, then every registered component.</summary>
    public void Poll()
    {
        if (_closed) return;
        long now = Clock.MonotonicMs;
        ExpireRequests(now);
        MaybeUpdateMetadata(now);
        foreach (var component in _components) component.Poll(now);
    }

    public long NextDeadlineMs
    {
        get
        {
            if (_closed) return long.MaxValue;
            long next = long.MaxValue;
            foreach (var node in _nodeList)
            {
                var c = node.Connection;
                if (c is null) continue;
                if (c.State != ConnectionState.Ready) next = Math.Min(next, c.StartedMs + Options.ConnectionSetupTimeoutMs);
                if (c.InFlight.Count > 0) next = Math.Min(next, c.InFlight.Peek().DeadlineMs);
            }
            next = Math.Min(next, MetadataDeadlineMs());
            long now = Clock.MonotonicMs;
            foreach (var node in _nodeList)
                if (node.ConnectWanted && node.Connection is null && node.ReconnectAtMs > now) next = Math.Min(next, node.ReconnectAtMs);
            foreach (var component in _components) next = Math.Min(next, component.NextDeadlineMs);
            return next;
        }
    }

    /// <summary>Closes every connection; in-flight requests complete as <see cref="ResponseStatus.Disconnected"/>.</summary>
    public void Close()
    {
        for (int i = 0; i < _nodeList.Count; i++)
            if (_nodeList[i].Connection is { } c) Drop(c, null);
        _closed = true;
    }

    // ---- sending -----------------------------------------------------------------------------------------

    /// <summary>True when a request can go to the node now; otherwise starts connecting (respecting the backoff)
    /// and returns false.</summary>
    public bool Ready(int nodeId)
    {
        if (_closed) return false;
        var node = NodeFor(nodeId);
        if (node is null) return false;
        if (node.Connection is { State: ConnectionState.Ready } c) return c.InFlight.Count < Options.MaxInFlightRequestsPerConnection;
        if (node.Connection is null) MaybeConnect(node, Clock.MonotonicMs);
        node.ConnectWanted = node.Connection is null;
        return false;
    }

    /// <summary>The version a request of <paramref name="key"/> to the node would use; null when the node is not
    /// ready or no version is shared.</summary>
    public short? VersionFor(int nodeId, ApiKey key)
    {
        var node = NodeFor(nodeId);
        if (node?.Connection is not { State: ConnectionState.Ready } c) return null;
        return Negotiate(c, key);
    }

    /// <summary>
    /// Sends a request to a ready node (see <see cref="Ready"/>) at the negotiated version. The callback runs
    /// exactly once: with the response, or when the connection closes or the request times out; when
    /// <paramref name="expectResponse"/> is false (acks=0), at once with <see cref="ResponseStatus.SentWithoutResponse"/>.
    /// </summary>
    public void Send(int nodeId, ApiKey key, IKafkaMessage body, Action<ClientResponse> callback, bool expectResponse = true)
    {
        var node = NodeFor(nodeId);
        Check.That(node?.Connection is { State: ConnectionState.Ready } && Ready(nodeId), "Send only to a ready node");
        var c = node!.Connection!;
        if (Negotiate(c, key) is not { } version)
        {
            callback(new ClientResponse(ResponseStatus.Unsupported, null, -1));
            return;
        }
        if (expectResponse)
        {
            Write(c, key, version, body, callback);
            return;
        }
        WriteFrame(c, key, version, body, _nextCorrelationId++);
        callback(new ClientResponse(ResponseStatus.SentWithoutResponse, null, version));
    }

    private void Write(Connection c, ApiKey key, short version, IKafkaMessage body, Action<ClientResponse> callback)
    {
        int correlationId = _nextCorrelationId++;
        c.InFlight.Enqueue(new InFlightRequest(correlationId, key, version, Clock.MonotonicMs + Options.RequestTimeoutMs, callback));
        WriteFrame(c, key, version, body, correlationId);
    }

    private void WriteFrame(Connection c, ApiKey key, short version, IKafkaMessage body, int correlationId)
    {
        if (_nextCorrelationId == int.MaxValue) _nextCorrelationId = 1;
        _writer.Reset();
        ClientCodec.WriteRequest(_writer, key, version, correlationId, Options.ClientId, body);
        _network.Send(c.Id, _writer.WrittenSpan);
    }

    private short Cap(ApiKey key, short max)
        => Options.MaxVersions.TryGetValue(key, out var cap) ? Math.Min(max, cap) : max;

    private short? Negotiate(Connection c, ApiKey key)
    {
        if (ClientRange(key) is not { } mine || !c.BrokerVersions.TryGetValue(key, out var theirs)) return null;
        short max = Cap(key, Math.Min(mine.Max, theirs.Max));
        short min = Math.Max(mine.Min, theirs.Min);
        return max >= min ? max : null;
    }

    // ---- responses ---------------------------------------------------------------------------------------

    private void HandleResponse(Connection c, ArraySegment<byte> payload)
    {
        if (c.InFlight.Count == 0)
        {
            Drop(c, "a response nobody asked for");
            return;
        }
        var head = c.InFlight.Peek();
        if (payload.Count < 4 || BinaryPrimitives.ReadInt32BigEndian(payload) != head.CorrelationId)
        {
            // Kafka answers in request order; anything else means the stream is out of step.
            Drop(c, "correlation id out of order");
            return;
        }
        short version = head.Version;
        if (head.Key == ApiKey.ApiVersions && payload.Count >= 6
            && (ErrorCode)BinaryPrimitives.ReadInt16BigEndian(payload.AsSpan(4)) == ErrorCode.UnsupportedVersion)
            version = 0; // the broker answers an unsupported ApiVersions in the v0 body layout
        IKafkaMessage body;
        try
        {
            body = ClientCodec.DecodeResponse(head.Key, version, payload, out _);
        }
        catch (ProtocolException)
        {
            Drop(c, "undecodable response");
            return;
        }
        c.InFlight.Dequeue();
        head.Callback(new ClientResponse(ResponseStatus.Ok, body, version));
    }

    private void OnApiVersions(Connection c, ClientResponse response, short sentVersion)
    {
        if (response.Status != ResponseStatus.Ok || !c.Open) return;
        var body = (ApiVersionsResponse)response.Body!;
        if (body.ErrorCode == ErrorCode.UnsupportedVersion && sentVersion > 0)
        {
            Write(c, ApiKey.ApiVersions, 0, new ApiVersionsRequest(), r => OnApiVersions(c, r, 0));
            return;
        }
        if (body.ErrorCode != ErrorCode.None)
        {
            Drop(c, "ApiVersions failed");
            return;
        }
        foreach (var v in body.ApiKeys) c.BrokerVersions[v.ApiKey] = (v.MinVersion, v.MaxVersion);
        c.State = ConnectionState.Ready;
        var node = _nodes[c.NodeId];
        node.Failures = 0;
    }

    // ---- connections -------------------------------------------------------------------------------------

    private NodeState? NodeFor(int nodeId)
    {
        if (_nodes.TryGetValue(nodeId, out var node)) return node;
        if (Metadata.AddressOf(nodeId) is null) return null;
        return AddNode(nodeId);
    }

    private NodeState AddNode(int nodeId)
    {
        Check.That(_nodeList.Count < Options.ConnectionsMax + Options.BootstrapServers.Count + 1024, "known brokers bounded");
        var node = new NodeState(nodeId);
        _nodes.Add(nodeId, node);
        int at = _nodeList.FindIndex(n => n.NodeId > nodeId);
        _nodeList.Insert(at < 0 ? _nodeList.Count : at, node);
        return node;
    }

    private BrokerAddress? AddressOf(int nodeId)
        => nodeId < 0 ? Options.BootstrapServers[-1 - nodeId] : Metadata.AddressOf(nodeId);

    private void MaybeConnect(NodeState node, long now)
    {
        if (node.Connection is not null || now < node.ReconnectAtMs || _byId.Count >= Options.ConnectionsMax) return;
        if (AddressOf(node.NodeId) is not { } address) return;
        var id = _network.Connect(address);
        Check.That(!_byId.ContainsKey(id), "connection ids are unique");
        var c = new Connection(id, node.NodeId, now);
        node.Connection = c;
        _byId.Add(id, c);
    }

    /// <summary>We give up on a connection: tell the network, then fail what was in flight.</summary>
    private void Drop(Connection c, string? reason)
    {
        if (!c.Open) return;
        _network.Close(c.Id);
        Closed(c, ResponseStatus.Disconnected);
        if (reason is not null) ConnectionDropped?.Invoke(c.Id, reason);
    }

    private void Closed(Connection c, ResponseStatus status, InFlightRequest? timedOut = null)
    {
        if (!c.Open) return;
        c.Open = false;
        _byId.Remove(c.Id);
        var node = _nodes[c.NodeId];
        if (ReferenceEquals(node.Connection, c)) node.Connection = null;
        long now = Clock.MonotonicMs;
        bool failedToConnect = c.State != ConnectionState.Ready;
        if (failedToConnect) node.Failures = Math.Min(node.Failures + 1, 30);
        node.ReconnectAtMs = now + Backoff(Options.ReconnectBackoffMs, Options.ReconnectBackoffMaxMs, node.Failures);
        _metadataWanted = true;
        var failed = c.InFlight.ToArray();
        c.InFlight.Clear();
        foreach (var r in failed)
            r.Callback(new ClientResponse(ReferenceEquals(r, timedOut) ? ResponseStatus.TimedOut : status, null, r.Version));
        if (failedToConnect && AddressOf(c.NodeId) is { } address) ConnectFailed?.Invoke(address);
    }

    private long Backoff(int baseMs, int maxMs, int failures)
    {
        long exp = Math.Min(maxMs, (long)baseMs << Math.Min(failures, 20));
        // +-20% jitter, as the Java client, from the seeded random.
        long jitter = exp / 5;
        return Math.Max(1, exp - jitter + (jitter == 0 ? 0 : (long)_random.NextBelow((ulong)(2 * jitter + 1))));
    }

    private void ExpireRequests(long now)
    {
        for (int i = 0; i < _nodeList.Count; i++)
        {
            if (_nodeList[i].Connection is not { } c) continue;
            if (c.State != ConnectionState.Ready && now >= c.StartedMs + Options.ConnectionSetupTimeoutMs)
            {
                _network.Close(c.Id);
                Closed(c, ResponseStatus.Disconnected);
                ConnectionDropped?.Invoke(c.Id, "connection setup timed out");
                continue;
            }
            if (c.InFlight.Count > 0 && now >= c.InFlight.Peek().DeadlineMs)
            {
                _network.Close(c.Id);
                Closed(c, ResponseStatus.Disconnected, c.InFlight.Peek());
                ConnectionDropped?.Invoke(c.Id, "request timed out");
            }
        }
    }

    // ---- metadata ----------------------------------------------------------------------------------------

    /// <summary>When the metadata refresh has work: when it is due and a node can take the request now, or when
    /// a node to ask becomes connectable. Never a time that would find nothing to do: a connection in progress
    /// or a saturated one wakes the client through its own input instead.</summary>
    private long MetadataDeadlineMs()
    {
        if (_metadataInFlight || _closed) return long.MaxValue;
        long due = MetadataDueMs();
        if (LeastLoadedReadyNode() is not null) return due;
        long earliest = long.MaxValue;
        foreach (var node in _nodeList)
        {
            if (node.Connection is not null) return long.MaxValue;
            earliest = Math.Min(earliest, node.ReconnectAtMs);
        }
        return Math.Max(due, earliest);
    }

    /// <summary>When the next metadata request may go: a wanted update waits retry.backoff.ms after the last
    /// one (so a component asking on every poll cannot flood the broker), an unwanted one metadata.max.age.ms.</summary>
    private long MetadataDueMs()
    {
        if (Metadata.LastUpdateMs < 0) return _metadataWanted ? _metadataRetryAtMs : 0;
        return _metadataWanted
            ? Math.Max(_metadataRetryAtMs, Metadata.LastUpdateMs + Options.RetryBackoffMs)
            : Metadata.LastUpdateMs + Options.MetadataMaxAgeMs;
    }

    private void MaybeUpdateMetadata(long now)
    {
        if (_metadataInFlight) return;
        if (now < MetadataDueMs()) return;
        var node = LeastLoadedReadyNode();
        if (node is null)
        {
            ConnectSomewhere(now);
            return;
        }
        var request = new MetadataRequest
        {
            Topics = _topics.Select(t => new MetadataRequest.MetadataRequestTopic { Name = t }).ToList(),
            AllowAutoTopicCreation = Options.AllowAutoTopicCreation,
        };
        _metadataInFlight = true;
        _metadataWanted = false;
        Send(node.NodeId, ApiKey.Metadata, request, OnMetadata);
    }

    private void OnMetadata(ClientResponse response)
    {
        _metadataInFlight = false;
        long now = Clock.MonotonicMs;
        if (response.Status != ResponseStatus.Ok)
        {
            _metadataWanted = true;
            _metadataRetryAtMs = now + Options.RetryBackoffMs;
            return;
        }
        bool complete = Metadata.Update((MetadataResponse)response.Body!, now);
        foreach (var id in Metadata.Brokers.Keys)
            if (!_nodes.ContainsKey(id)) AddNode(id);
        if (!complete || _topics.Any(t => Metadata.PartitionCount(t) < 0))
        {
            _metadataWanted = true;
            _metadataRetryAtMs = now + Options.RetryBackoffMs;
        }
    }

    private NodeState? LeastLoadedReadyNode()
    {
        NodeState? best = null;
        foreach (var node in _nodeList)
        {
            if (node.Connection is not { State: ConnectionState.Ready } c) continue;
            if (c.InFlight.Count >= Options.MaxInFlightRequestsPerConnection) continue;
            if (best is null || c.InFlight.Count < best.Connection!.InFlight.Count) best = node;
        }
        return best;
    }

    /// <summary>No ready node for metadata: connect to a known broker, or the next bootstrap address.</summary>
    private void ConnectSomewhere(long now)
    {
        foreach (var node in _nodeList)
            if (node.Connection is not null) return; // one is on its way
        var candidates = _nodeList.Where(n => n.NodeId >= 0).ToList();
        if (candidates.Count == 0)
        {
            int count = Options.BootstrapServers.Count;
            candidates = Enumerable.Range(0, count).Select(i => _nodes[BootstrapNodeId((_bootstrapCursor + i) % count)]).ToList();
            _bootstrapCursor = (_bootstrapCursor + 1) % count;
        }
        foreach (var node in candidates)
        {
            if (now < node.ReconnectAtMs) continue;
            MaybeConnect(node, now);
            return;
        }
    }
}
