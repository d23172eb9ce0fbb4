using System.Buffers;
using System.Net;
using System.Net.Sockets;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Host.Configuration;
using DetKafka.Host.Perf;

namespace DetKafka.Host.Runtime;

/// <summary>What <see cref="BrokerHost"/> needs of its network beyond Core's <see cref="INetwork"/>.</summary>
internal interface IHostNetwork : INetwork
{
    IPEndPoint LocalEndPoint { get; }
    int OpenConnections { get; }
    long ConnectionsAccepted { get; }
    void Bind();
    void StartAccepting();
    void StopAccepting();
    void StopReading();
    void CloseAll(TimeSpan flushTimeout);
}

/// <summary>
/// <see cref="INetwork"/> as an event loop on the driver thread (Linux): the listener and every connection are
/// non-blocking sockets polled with ppoll(2) together with an eventfd that other threads (the sync lanes, signal
/// handlers) write to wake it. Received bytes go from one read buffer straight into <see cref="BrokerNode.OnReceive"/>
/// (Core copies what it keeps); what Core sends is appended to the connection's output buffer and written once per
/// loop iteration (<see cref="Flush"/>), so the responses one sync completion releases leave in one send. A large
/// response (a fetch) with nothing queued before it goes to the socket from Core's buffer without a copy. So a
/// request crosses no thread between the socket and Core; only the fsync leaves the thread (see PERFORMANCE.md,
/// "The host's I/O path"). Every method runs on the driver thread except <see cref="Wake"/>,
/// <see cref="StartAccepting"/> and the counters.
/// </summary>
internal sealed class EventLoopNetwork : IHostNetwork, IDriverEventLoop, IDisposable
{
    private const int ReadBufferBytes = 256 * 1024;
    /// <summary>Reads per connection per wake: a client streaming requests cannot starve the others.</summary>
    private const int ReadsPerWakeMax = 4;
    /// <summary>A response at least this big with nothing queued before it is sent straight from Core's buffer.</summary>
    private const int DirectSendBytesMin = 32 * 1024;
    /// <summary>An output buffer is kept between flushes up to this size; a larger one goes back to the pool once empty.</summary>
    private const int OutputBufferKeepBytes = 64 * 1024;

    private readonly ListenerAddress _listenerAddress;
    private readonly BrokerDriver _driver;
    private readonly Serilog.ILogger _log;
    private readonly Dictionary<long, Conn> _byId = new();
    private readonly List<Conn> _conns = new();
    private readonly List<Conn> _dirty = new();
    private readonly byte[] _readBuffer = new byte[ReadBufferBytes];
    private readonly NativeEventFd _wake = new();
    private NativePoll.PollFd[] _fds = new NativePoll.PollFd[16];
    private Conn?[] _polled = new Conn?[16];
    private Socket? _listener;
    private IPEndPoint? _localEndPoint;
    private volatile bool _accepting;
    private bool _readsStopped;
    private int _open;
    private long _lastConnectionId;

    internal EventLoopNetwork(ListenerAddress listener, BrokerDriver driver, Serilog.ILogger log, SocketNetworkLimits? limits = null)
    {
        _listenerAddress = listener;
        _driver = driver;
        _log = log;
        Limits = limits ?? new SocketNetworkLimits();
    }

    /// <summary>ppoll and eventfd exist (Linux on x64 and arm64); elsewhere the host uses <see cref="SocketNetwork"/>.</summary>
    public static bool Supported => NativePoll.Supported;

    internal SocketNetworkLimits Limits { get; }

    public IPEndPoint LocalEndPoint => _localEndPoint ?? throw new InvalidOperationException("not bound");

    public int OpenConnections => Volatile.Read(ref _open);

    public long ConnectionsAccepted => Interlocked.Read(ref _lastConnectionId);

    private sealed class Conn(ConnectionId id, Socket socket)
    {
        public readonly ConnectionId Id = id;
        public readonly Socket Socket = socket;
        public readonly int Fd = (int)socket.Handle;
        public byte[]? Out;
        public int OutStart;
        public int OutEnd;
        public bool ReceiveEnabled = true;
        public bool ClosedByCore;
        public bool Closing;
        public long CloseDeadlineTicks;
        public bool Dead;
        public bool Dirty;

        public int Pending => OutEnd - OutStart;
    }

    // ---- lifecycle -------------------------------------------------------------------------------------

    public void Bind()
    {
        var socket = SocketNetwork.OpenListener(_listenerAddress, Limits.AcceptBacklog);
        socket.Blocking = false;
        _listener = socket;
        _localEndPoint = (IPEndPoint)socket.LocalEndPoint!;
    }

    /// <summary>Any thread: the loop polls the listener from its next iteration.</summary>
    public void StartAccepting()
    {
        _accepting = true;
        Wake();
    }

    /// <summary>Close the listening socket (driver thread); open connections stay.</summary>
    public void StopAccepting()
    {
        _accepting = false;
        if (!_driver.IsDriverThread)
        {
            Wake();
            return;
        }
        _listener?.Dispose();
        _listener = null;
    }

    /// <summary>Stop reading requests on every connection (shutdown): what was read is still delivered.</summary>
    public void StopReading() => _readsStopped = true;

    /// <summary>Driver thread, after the node shut down: flush what is queued (bounded by
    /// <paramref name="flushTimeout"/>), then close every connection. No further input reaches Core.</summary>
    public void CloseAll(TimeSpan flushTimeout)
    {
        StopAccepting();
        _listener?.Dispose();
        _listener = null;
        long deadline = Environment.TickCount64 + (long)flushTimeout.TotalMilliseconds;
        foreach (var c in _conns)
        {
            if (c.Dead) continue;
            c.Closing = true;
            c.ClosedByCore = true; // nothing more goes to Core
            FlushConnection(c);
        }
        while (Environment.TickCount64 < deadline)
        {
            int n = 0;
            foreach (var c in _conns)
            {
                if (c.Dead || c.Pending == 0) continue;
                EnsurePollCapacity(n + 1);
                _fds[n] = new NativePoll.PollFd { Fd = c.Fd, Events = NativePoll.PollOut };
                _polled[n++] = c;
            }
            if (n == 0) break;
            NativePoll.Wait(_fds, n, 10_000);
            for (int i = 0; i < n; i++)
                if (_fds[i].Revents != 0) FlushConnection(_polled[i]!);
        }
        foreach (var c in _conns) Drop(c);
        _conns.Clear();
        _byId.Clear();
        Array.Clear(_polled);
        _dirty.Clear();
        _wake.Dispose();
    }

    public void Dispose() => _wake.Dispose();

    // ---- IDriverEventLoop ------------------------------------------------------------------------------

    public void Wake() => _wake.Signal();

    public void Flush()
    {
        // FlushConnection may close a connection, which does not touch _dirty.
        for (int i = 0; i < _dirty.Count; i++)
        {
            var c = _dirty[i];
            c.Dirty = false;
            if (!c.Dead) FlushConnection(c);
        }
        _dirty.Clear();
    }

    public int RunOnce(BrokerNode node, long timeoutMicros)
    {
        Compact();
        int n = 0;
        EnsurePollCapacity(_conns.Count + 2);
        _fds[n++] = new NativePoll.PollFd { Fd = _wake.Fd, Events = NativePoll.PollIn };
        int listenerSlot = -1;
        if (_accepting && _listener is { } listener && !_readsStopped)
        {
            listenerSlot = n;
            _fds[n++] = new NativePoll.PollFd { Fd = (int)listener.Handle, Events = NativePoll.PollIn };
        }
        int first = n;
        long nowTicks = Environment.TickCount64;
        foreach (var c in _conns)
        {
            short events = 0;
            if (Readable(c)) events |= NativePoll.PollIn;
            if (c.Pending > 0) events |= NativePoll.PollOut;
            if (c.Closing) timeoutMicros = Math.Min(timeoutMicros, Math.Max(0, c.CloseDeadlineTicks - nowTicks) * 1000);
            _polled[n] = c;
            _fds[n++] = new NativePoll.PollFd { Fd = c.Fd, Events = events };
        }

        int ready = NativePoll.Wait(_fds, n, timeoutMicros);
        if (ready > 0 && _fds[0].Revents != 0)
        {
            // Inputs wait (sync completions, mostly): the driver handles them before any new request, as the queue
            // order would, so a completed fsync answers its requests and starts the partition's next fsync at once
            // instead of after this round of reads and appends. The sockets are polled again right after.
            _wake.Reset();
            return ready;
        }
        if (ready > 0)
        {
            if (listenerSlot >= 0 && _fds[listenerSlot].Revents != 0) AcceptOne(node);
            for (int i = first; i < n; i++)
            {
                short revents = _fds[i].Revents;
                var c = _polled[i]!;
                if (revents == 0 || c.Dead) continue;
                if ((revents & NativePoll.PollOut) != 0 && c.Pending > 0) FlushConnection(c);
                if (c.Dead) continue;
                if ((revents & NativePoll.PollIn) != 0 && Readable(c)) ReadSome(node, c);
                else if ((revents & (NativePoll.PollHup | NativePoll.PollErr | NativePoll.PollNval)) != 0)
                {
                    // Gone while we were not reading it (receive disabled, or shutting down): nothing queued for it
                    // can be delivered, and polling it again would return at once.
                    PeerClosed(node, c);
                }
            }
        }
        ExpireCloses();
        return ready;
    }

    private bool Readable(Conn c) => c.ReceiveEnabled && !c.Closing && !_readsStopped;

    private void EnsurePollCapacity(int count)
    {
        if (_fds.Length >= count) return;
        int size = Math.Max(count, _fds.Length * 2);
        Array.Resize(ref _fds, size);
        Array.Resize(ref _polled, size);
    }

    private void Compact()
    {
        int dead = 0;
        foreach (var c in _conns) if (c.Dead) dead++;
        if (dead > 0) _conns.RemoveAll(c => c.Dead);
    }

    private void AcceptOne(BrokerNode node)
    {
        Socket client;
        try
        {
            // One per wake: the listener stays readable while more wait, and a non-blocking accept with nothing
            // there throws.
            client = _listener!.Accept();
        }
        catch (SocketException e)
        {
            if (e.SocketErrorCode != SocketError.WouldBlock) _log.Warning("Accept failed: {Error}", e.SocketErrorCode);
            return;
        }
        catch (ObjectDisposedException)
        {
            return;
        }
        try
        {
            client.Blocking = false;
            client.NoDelay = true;
        }
        catch (SocketException)
        {
            client.Dispose();
            return;
        }
        var id = new ConnectionId(Interlocked.Increment(ref _lastConnectionId));
        Adopt(id, client);
        _log.Debug("Accepted {Connection} from {Remote}", id, client.RemoteEndPoint);
        node.OnConnectionOpened(id);
    }

    private void Adopt(ConnectionId id, Socket socket)
    {
        var c = new Conn(id, socket);
        _byId[id.Value] = c;
        _conns.Add(c);
        Interlocked.Increment(ref _open);
    }

    private void ReadSome(BrokerNode node, Conn c)
    {
        for (int reads = 0; reads < ReadsPerWakeMax; reads++)
        {
            int got = c.Socket.Receive(_readBuffer.AsSpan(), SocketFlags.None, out var error);
            if (error == SocketError.WouldBlock) return;
            if (error != SocketError.Success || got == 0)
            {
                PeerClosed(node, c);
                return;
            }
            // Core copies what it keeps, so the one read buffer serves every connection.
            node.OnReceive(c.Id, _readBuffer.AsSpan(0, got));
            if (c.Dead || !Readable(c) || got < _readBuffer.Length) return;
        }
    }

    /// <summary>The peer closed or reset: drop the connection and tell Core (unless it closed it itself). Not
    /// called from inside a Core call.</summary>
    private void PeerClosed(BrokerNode node, Conn c)
    {
        bool notify = !c.ClosedByCore;
        Drop(c);
        if (notify) node.OnConnectionClosed(c.Id);
    }

    /// <summary>Dispose the socket and forget the connection; queued output is discarded.</summary>
    private void Drop(Conn c)
    {
        if (c.Dead) return;
        c.Dead = true;
        _byId.Remove(c.Id.Value);
        Interlocked.Decrement(ref _open);
        try
        {
            c.Socket.Dispose();
        }
        catch (SocketException)
        {
        }
        if (c.Out is { } buffer) ArrayPool<byte>.Shared.Return(buffer);
        c.Out = null;
        c.OutStart = c.OutEnd = 0;
    }

    /// <summary>Drop from inside a Core call (a send failed or overflowed): Core hears OnConnectionClosed as its
    /// next input, not re-entrantly.</summary>
    private void Abort(Conn c)
    {
        bool notify = !c.ClosedByCore;
        Drop(c);
        var id = c.Id;
        if (notify) _driver.Post(new DriverInput(InputKind.Invoke, Action: n => n.OnConnectionClosed(id)));
    }

    private void ExpireCloses()
    {
        long now = Environment.TickCount64;
        foreach (var c in _conns)
            if (c.Closing && !c.Dead && now >= c.CloseDeadlineTicks) Drop(c);
    }

    // ---- writing ---------------------------------------------------------------------------------------

    private void FlushConnection(Conn c)
    {
        while (c.Pending > 0)
        {
            int n = c.Socket.Send(c.Out.AsSpan(c.OutStart, c.Pending), SocketFlags.None, out var error);
            if (error == SocketError.WouldBlock) return; // POLLOUT is asked for while output is pending
            if (error != SocketError.Success)
            {
                Abort(c);
                return;
            }
            c.OutStart += n;
        }
        c.OutStart = c.OutEnd = 0;
        if (c.Out is { Length: > OutputBufferKeepBytes } big)
        {
            ArrayPool<byte>.Shared.Return(big);
            c.Out = null;
        }
        if (c.Closing) FinishClose(c);
    }

    private void FinishClose(Conn c)
    {
        try
        {
            c.Socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        Drop(c);
    }

    private void Append(Conn c, ReadOnlySpan<byte> bytes)
    {
        if (c.Out is null)
        {
            c.Out = ArrayPool<byte>.Shared.Rent(Math.Max(OutputBufferKeepBytes, bytes.Length));
        }
        else if (c.Out.Length - c.OutEnd < bytes.Length)
        {
            int pending = c.Pending;
            if (c.Out.Length - pending >= bytes.Length)
            {
                c.Out.AsSpan(c.OutStart, pending).CopyTo(c.Out);
            }
            else
            {
                var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(c.Out.Length * 2, pending + bytes.Length));
                c.Out.AsSpan(c.OutStart, pending).CopyTo(bigger);
                ArrayPool<byte>.Shared.Return(c.Out);
                c.Out = bigger;
            }
            c.OutStart = 0;
            c.OutEnd = pending;
        }
        bytes.CopyTo(c.Out.AsSpan(c.OutEnd));
        c.OutEnd += bytes.Length;
        if (!c.Dirty)
        {
            c.Dirty = true;
            _dirty.Add(c);
        }
    }

    // ---- INetwork (driver thread) ----------------------------------------------------------------------

    public void Send(ConnectionId connection, ReadOnlySpan<byte> bytes)
    {
        _driver.AssertDriverThread();
        if (!_byId.TryGetValue(connection.Value, out var c) || c.Closing) return; // gone or closing: dropped, as before
        if ((long)c.Pending + bytes.Length > Limits.SendQueueBytesMax)
        {
            _log.Warning("Closing {Connection}: the client is not reading its responses ({Bytes} bytes queued, limit {Limit})",
                connection, (long)c.Pending + bytes.Length, Limits.SendQueueBytesMax);
            Abort(c);
            return;
        }
        if (c.Pending == 0 && bytes.Length >= DirectSendBytesMin)
        {
            // Nothing before it: write from Core's buffer now and copy only what the socket did not take.
            int n = c.Socket.Send(bytes, SocketFlags.None, out var error);
            if (error == SocketError.WouldBlock) n = 0;
            else if (error != SocketError.Success)
            {
                Abort(c);
                return;
            }
            bytes = bytes[n..];
            if (bytes.IsEmpty) return;
        }
        Append(c, bytes);
    }

    public void Close(ConnectionId connection)
    {
        _driver.AssertDriverThread();
        if (!_byId.TryGetValue(connection.Value, out var c)) return;
        c.ClosedByCore = true;
        if (c.Closing) return;
        c.Closing = true;
        c.CloseDeadlineTicks = Environment.TickCount64 + (long)Limits.CloseFlushTimeout.TotalMilliseconds;
        // Flushed (and then closed) at the loop's next Flush, with whatever Core sent before it.
        if (!c.Dirty)
        {
            c.Dirty = true;
            _dirty.Add(c);
        }
    }

    public void SetReceiveEnabled(ConnectionId connection, bool enabled)
    {
        _driver.AssertDriverThread();
        if (_byId.TryGetValue(connection.Value, out var c)) c.ReceiveEnabled = enabled;
    }

    /// <summary>The connect runs off the driver thread; its outcome comes back as an input (OnConnected, the socket
    /// then joining the loop, or OnConnectFailed), never from inside this call.</summary>
    public ConnectionId Connect(string host, int port)
    {
        _driver.AssertDriverThread();
        var id = new ConnectionId(Interlocked.Increment(ref _lastConnectionId));
        _ = ConnectAsync(id, host, port);
        return id;
    }

    private async Task ConnectAsync(ConnectionId id, string host, int port)
    {
        if (await OutboundConnect.ConnectAsync(id, host, port, Limits.ConnectTimeoutMs, _driver, _log).ConfigureAwait(false) is not { } connected)
            return;
        connected.Blocking = false;
        _driver.Post(new DriverInput(InputKind.Invoke, Action: node =>
        {
            Adopt(id, connected);
            node.OnConnected(id);
        }));
    }
}
