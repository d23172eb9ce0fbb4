using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using DetKafka.Core.Abstractions;
using DetKafka.Host.Configuration;

namespace DetKafka.Host.Runtime;

/// <summary>
/// <see cref="INetwork"/> over TCP sockets. An accept loop hands each client a fresh <see cref="ConnectionId"/>;
/// per connection a read loop posts copies of received bytes to the driver and a write loop drains a bounded
/// send queue. The <see cref="INetwork"/> methods are Core's and run on the driver thread.
/// </summary>
public sealed class SocketNetwork : INetwork, IHostNetwork
{
    private readonly ListenerAddress _listenerAddress;
    private readonly BrokerDriver _driver;
    private readonly Serilog.ILogger _log;
    private readonly ConcurrentDictionary<long, SocketConnection> _connections = new();
    private readonly CancellationTokenSource _acceptStop = new();
    private Socket? _listener;
    private Task _acceptLoop = Task.CompletedTask;
    private long _lastConnectionId;
    private volatile bool _readsStopped;

    internal SocketNetwork(ListenerAddress listener, BrokerDriver driver, Serilog.ILogger log, SocketNetworkLimits? limits = null)
    {
        _listenerAddress = listener;
        _driver = driver;
        _log = log;
        Limits = limits ?? new SocketNetworkLimits();
    }

    internal SocketNetworkLimits Limits { get; }

    /// <summary>The bound address (the real port when the listener asked for port 0).</summary>
    public IPEndPoint LocalEndPoint => (IPEndPoint)(_listener?.LocalEndPoint ?? throw new InvalidOperationException("not bound"));

    public int OpenConnections => _connections.Count;

    /// <summary>Connections accepted since the start.</summary>
    public long ConnectionsAccepted => Interlocked.Read(ref _lastConnectionId);

    /// <summary>Bind and listen; connections wait in the backlog until <see cref="StartAccepting"/>.</summary>
    public void Bind() => _listener = OpenListener(_listenerAddress, Limits.AcceptBacklog);

    /// <summary>A bound, listening socket for <paramref name="listener"/> (both socket layers listen through it).</summary>
    internal static Socket OpenListener(ListenerAddress listener, int backlog)
    {
        var address = Resolve(listener);
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (address.Equals(IPAddress.IPv6Any)) socket.DualMode = true;
            // Lets a restarted broker rebind while old connections sit in TIME_WAIT (Unix semantics; not
            // the port-stealing variant Windows gives this option).
            if (!OperatingSystem.IsWindows()) socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(new IPEndPoint(address, listener.Port));
            socket.Listen(backlog);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return socket;
    }

    private static IPAddress Resolve(ListenerAddress listener)
    {
        if (listener.Host.Length == 0) return Socket.OSSupportsIPv6 ? IPAddress.IPv6Any : IPAddress.Any;
        if (IPAddress.TryParse(listener.Host, out var literal)) return literal;
        var addresses = Dns.GetHostAddresses(listener.Host);
        return addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork)
            ?? addresses.FirstOrDefault()
            ?? throw new SocketException((int)SocketError.HostNotFound);
    }

    public void StartAccepting()
    {
        var listener = _listener ?? throw new InvalidOperationException("not bound");
        _acceptLoop = Task.Run(() => AcceptLoop(listener));
    }

    /// <summary>Close the listening socket; open connections stay.</summary>
    public void StopAccepting()
    {
        _acceptStop.Cancel();
        _listener?.Dispose();
        try
        {
            _acceptLoop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // already logged by the loop
        }
    }

    /// <summary>Stop reading requests on every connection (shutdown): what was read is still delivered.</summary>
    public void StopReading()
    {
        _readsStopped = true;
        foreach (var connection in _connections.Values) connection.StopReading();
    }

    /// <summary>Flush what is queued on every connection (bounded by <paramref name="flushTimeout"/>) and close
    /// them all. No further input is posted.</summary>
    public void CloseAll(TimeSpan flushTimeout)
    {
        StopAccepting();
        var all = _connections.Values.ToList();
        foreach (var connection in all) connection.CloseAfterFlush(flushTimeout, notify: false);
        var writers = all.Select(c => c.Finished).ToArray();
        try
        {
            Task.WaitAll(writers, flushTimeout + TimeSpan.FromSeconds(1));
        }
        catch (AggregateException)
        {
            // connection loops do not fault; a timeout aborts below
        }
        foreach (var connection in all) connection.Abort();
        _connections.Clear();
    }

    private async Task AcceptLoop(Socket listener)
    {
        var token = _acceptStop.Token;
        while (!token.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                // Transient (EMFILE, aborted handshake): keep serving the connections we have.
                _log.Warning("Accept failed: {Error}", e.SocketErrorCode);
                await Task.Delay(50, CancellationToken.None).ConfigureAwait(false);
                continue;
            }

            try
            {
                client.NoDelay = true;
            }
            catch (SocketException)
            {
                client.Dispose();
                continue;
            }
            var id = new ConnectionId(Interlocked.Increment(ref _lastConnectionId));
            var connection = new SocketConnection(id, client, this);
            _connections[id.Value] = connection;
            _log.Debug("Accepted {Connection} from {Remote}", id, client.RemoteEndPoint);
            // Opened is queued before the read loop can queue any bytes of this connection.
            _driver.Post(new DriverInput(InputKind.Opened, connection));
            if (_readsStopped) connection.StopReading();
            connection.Start();
        }
    }

    internal void Post(in DriverInput input) => _driver.Post(input);

    internal void Forget(SocketConnection connection) => _connections.TryRemove(connection.Id.Value, out _);

    internal Serilog.ILogger Log => _log;

    // ---- INetwork (driver thread) ----------------------------------------------------------------------

    public void Send(ConnectionId connection, ReadOnlySpan<byte> bytes)
    {
        _driver.AssertDriverThread();
        if (!_connections.TryGetValue(connection.Value, out var c)) return; // gone; Core hears of it soon
        if (!c.TryEnqueue(bytes))
        {
            _log.Warning("Closing {Connection}: the client is not reading its responses ({Bytes} bytes queued, limit {Limit})",
                connection, c.QueuedBytes + bytes.Length, Limits.SendQueueBytesMax);
            c.Abort();
        }
    }

    public void Close(ConnectionId connection)
    {
        _driver.AssertDriverThread();
        if (!_connections.TryGetValue(connection.Value, out var c)) return;
        c.ClosedByCore = true;
        c.CloseAfterFlush(Limits.CloseFlushTimeout, notify: false);
    }

    public void SetReceiveEnabled(ConnectionId connection, bool enabled)
    {
        _driver.AssertDriverThread();
        if (_connections.TryGetValue(connection.Value, out var c)) c.SetReceiveEnabled(enabled);
    }

    /// <summary>An outbound connection to a peer: its id comes from the same sequence as accepted ones (unique), the
    /// connect runs off the driver thread, and its outcome comes back as the node's OnConnected or OnConnectFailed
    /// input, queued before any of its bytes. Then it is a connection like any other.</summary>
    public ConnectionId Connect(string host, int port)
    {
        _driver.AssertDriverThread();
        var id = new ConnectionId(Interlocked.Increment(ref _lastConnectionId));
        _ = ConnectAsync(id, host, port);
        return id;
    }

    private async Task ConnectAsync(ConnectionId id, string host, int port)
    {
        if (await OutboundConnect.ConnectAsync(id, host, port, Limits.ConnectTimeoutMs, _driver, _log).ConfigureAwait(false) is not { } socket)
            return;
        var connection = new SocketConnection(id, socket, this);
        _connections[id.Value] = connection;
        // Connected is queued before the read loop can queue any bytes of this connection.
        _driver.Post(new DriverInput(InputKind.Invoke, Action: node => node.OnConnected(id)));
        if (_readsStopped) connection.StopReading();
        connection.Start();
    }
}

/// <summary>Bounds of the socket layer.</summary>
internal sealed record SocketNetworkLimits
{
    public int ReadBufferBytes { get; init; } = 64 * 1024;

    /// <summary>How long an outbound connect may take before the node is told it failed.</summary>
    public int ConnectTimeoutMs { get; init; } = 10_000;

    /// <summary>Bytes read but not yet delivered to Core, per connection, before reading pauses: bounds the
    /// driver queue without Core's help.</summary>
    public long UndeliveredBytesMax { get; init; } = 1024 * 1024;

    /// <summary>Responses queued for a client that does not read them; past it the connection is closed.</summary>
    public long SendQueueBytesMax { get; init; } = 64L * 1024 * 1024;

    /// <summary>How long Close waits for queued responses to leave before dropping them.</summary>
    public TimeSpan CloseFlushTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Buffers gathered into one send call.</summary>
    public int SendBatchBytesMax { get; init; } = 1024 * 1024;

    public int AcceptBacklog { get; init; } = 512;
}
