using DetKafka.Core.Abstractions;
using DetKafka.Core.Handlers;
using DetKafka.Core.Protocol;
using DetKafka.Core.Util;

namespace DetKafka.Core.Broker;

/// <summary>
/// One Kafka broker as a deterministic state machine. The driver (the host's single driver thread, or the
/// simulator's event loop) delivers inputs one at a time: connection events, received bytes, sync
/// completions and <see cref="Poll"/> once <see cref="NextDeadlineMs"/> has passed. Everything the node does
/// to the world goes through <see cref="IClock"/>, <see cref="IDisk"/>, <see cref="INetwork"/>,
/// <see cref="IRandom"/> and <see cref="IBrokerLog"/>.
/// </summary>
public sealed partial class BrokerNode
{
    /// <summary>Idle request contexts kept for reuse.</summary>
    private const int IdleRequestContextsMax = 1024;

    private readonly Dictionary<ConnectionId, BrokerConnection> _connections = new();
    private readonly KafkaWriter _responseWriter = new(64 * 1024);
    private readonly Utf8StringCache _requestStrings = new();
    private readonly Stack<RequestContext> _idleRequestContexts = new();
    private readonly HandlerRegistry _handlers;
    private ApiVersionsHandler ApiVersions => (ApiVersionsHandler)_handlers.Find(ApiKey.ApiVersions)!;

    public BrokerNode(BrokerConfig config, IClock clock, IDisk disk, INetwork network, IRandom random, IBrokerLog log)
    {
        Config = config;
        Clock = clock;
        Disk = disk;
        Network = network;
        Random = random;
        Log = log;
        Timers = new Timers();
        InitializeState();
        _handlers = new HandlerRegistry(this);
    }

    public BrokerConfig Config { get; }
    public IClock Clock { get; }
    public IDisk Disk { get; }
    public INetwork Network { get; }
    public IRandom Random { get; }
    public IBrokerLog Log { get; }
    public Timers Timers { get; }
    public HandlerRegistry Handlers => _handlers;

    /// <summary>The host's metrics hook; set before <see cref="Start"/>. Nothing by default.</summary>
    public IBrokerObserver Observer { get; set; } = NullBrokerObserver.Instance;
    public int ConnectionCount => _connections.Count;

    /// <summary>The earliest monotonic time at which <see cref="Poll"/> has work, or long.MaxValue.</summary>
    public long NextDeadlineMs => Math.Min(Math.Min(Math.Min(Timers.NextDeadlineMs, StateNextDeadlineMs()), PeersNextDeadlineMs), RaftNextDeadlineMs);

    // ---- inputs --------------------------------------------------------------------------------------

    public void OnConnectionOpened(ConnectionId id)
    {
        Check.That(!_connections.ContainsKey(id), "connection ids are unique");
        if (_connections.Count >= Config.MaxConnections)
        {
            Log.Warn("Refusing {Connection}: max.connections {Max} reached", id, Config.MaxConnections);
            Network.Close(id);
            return;
        }
        _connections.Add(id, new BrokerConnection(this, id));
    }

    public void OnReceive(ConnectionId id, ReadOnlySpan<byte> data)
    {
        if (!_connections.TryGetValue(id, out var connection))
        {
            TryPeerReceive(id, data); // an outbound connection's; or closed by us, and late bytes are dropped
            return;
        }
        connection.Receive(data);
        EndStep();
    }

    public void OnConnectionClosed(ConnectionId id)
    {
        if (_connections.Remove(id, out var connection)) connection.MarkClosed();
        else TryPeerClosed(id);
    }

    public void Poll()
    {
        long now = Clock.MonotonicMs;
        Timers.RunDue(now);
        PollState(now);
        PollPeers();
        PollRaft(now);
        EndStep();
    }

    // ---- request dispatch ----------------------------------------------------------------------------

    internal void Dispatch(BrokerConnection connection, ArraySegment<byte> payload)
    {
        // Client ids and topic names repeat on every request: decode them to the strings they gave last time.
        var reader = new KafkaReader(payload) { Strings = _requestStrings };
        RequestHeader header;
        try
        {
            if (!RequestHeader.TryRead(ref reader, out header))
            {
                CloseConnection(connection, "unknown API key {ApiKey} (correlation id {CorrelationId})",
                    (short)header.ApiKey, header.CorrelationId);
                return;
            }
        }
        catch (ProtocolException e)
        {
            CloseConnection(connection, "undecodable request header: {Reason}", e.Message);
            return;
        }

        var handler = _handlers.Find(header.ApiKey);
        if (handler is null)
        {
            CloseConnection(connection, "API {ApiKey} v{Version} is not served by this broker", header.ApiKey, header.ApiVersion);
            return;
        }
        if (header.ApiVersion < handler.MinVersion || header.ApiVersion > handler.MaxVersion)
        {
            if (header.ApiKey == ApiKey.ApiVersions)
            {
                ApiVersions.RespondUnsupported(connection.BeginRequest(header));
                return;
            }
            CloseConnection(connection, "unsupported version {ApiKey} v{Version} (serves {Min}-{Max})",
                header.ApiKey, header.ApiVersion, handler.MinVersion, handler.MaxVersion);
            return;
        }

        var request = connection.BeginRequest(header);
        try
        {
            handler.Handle(request, ref reader);
        }
        catch (ProtocolException e)
        {
            CloseConnection(connection, "undecodable {ApiKey} v{Version} request: {Reason}", header.ApiKey, header.ApiVersion, e.Message);
        }
    }

    /// <summary>Encodes a whole response frame into the node's one response writer, which the caller must
    /// send or copy before the next response is encoded (Core is single-threaded and network sends copy).</summary>
    internal KafkaWriter EncodeResponse(RequestHeader header, IKafkaMessage body, short bodyVersion)
    {
        var w = _responseWriter;
        w.Reset();
        int sizeAt = w.ReserveInt32();
        ResponseHeader.Write(w, header.CorrelationId, RequestHeader.ResponseHeaderVersion(header.ApiKey, header.ApiVersion));
        body.Write(w, bodyVersion);
        w.PatchInt32(sizeAt, w.Position - Frame.SizePrefixBytes);
        return w;
    }

    internal RequestContext RentRequestContext(BrokerConnection connection, RequestHeader header)
    {
        if (!_idleRequestContexts.TryPop(out var context)) return new RequestContext(connection, header);
        context.Reuse(connection, header);
        return context;
    }

    /// <summary>A context whose response has been sent (contexts of closed connections are left to the GC:
    /// a waiting operation may still hold one).</summary>
    internal void ReturnRequestContext(RequestContext context)
    {
        if (_idleRequestContexts.Count < IdleRequestContextsMax) _idleRequestContexts.Push(context);
    }

    internal void CloseConnection(BrokerConnection connection, string reasonTemplate, params object?[] args)
    {
        if (connection.IsClosed) return;
        var withId = new object?[args.Length + 1];
        withId[0] = connection.Id;
        Array.Copy(args, 0, withId, 1, args.Length);
        Log.Warn("Closing {Connection}: " + reasonTemplate, withId);
        connection.MarkClosed();
        _connections.Remove(connection.Id);
        Network.Close(connection.Id);
    }
}

public sealed partial class BrokerNode
{
    /// <summary>Close the connection a request came on (acks=0 errors have no response to carry them).</summary>
    internal void CloseConnectionFor(RequestContext request, string reason)
    {
        if (_connections.TryGetValue(request.Connection, out var connection)) CloseConnection(connection, reason);
    }
}
