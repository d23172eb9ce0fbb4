using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Client;
using DetKafka.Core.Protocol;
using DetKafka.Core.Util;

namespace DetKafka.Host.Perf;

/// <summary>
/// <see cref="IClientNetwork"/> over non-blocking TCP sockets, owned by one thread together with its
/// <see cref="KafkaClient"/>: the thread calls <see cref="RunOnce"/> in a loop, which waits in poll(2) for its
/// sockets, reads what arrived and hands it to the client, and writes what the client sends. No thread hops and
/// no allocation per request: a request goes straight to the socket when nothing waits before it; what the
/// socket does not take waits in a per-connection output buffer until it is writable. Kafka's Java client works the same
/// way (one selector per sender thread).
/// <para>Optionally times requests: each request frame sent is stamped, and since Kafka answers in request order
/// per connection, the response frame that completes next on that connection is its answer.</para>
/// </summary>
public sealed class SocketClientNetwork : IClientNetwork, IDisposable
{
    private const int OutputBufferInitialBytes = 64 * 1024;
    private const long OutputBufferMaxBytes = 1L << 30;
    private const int ReadsPerWakeMax = 16;

    private readonly Dictionary<long, Conn> _byId = new();
    private readonly List<Conn> _conns = new();
    private readonly Queue<(ConnectionId Id, bool Connected)> _events = new();
    private readonly byte[] _readBuffer;
    private readonly List<Socket> _readList = new();
    private readonly List<Socket> _writeList = new();
    private readonly List<Socket> _errorList = new();
    private readonly Dictionary<string, IPAddress> _resolved = new(StringComparer.Ordinal);
    private readonly List<Conn> _scratch = new();
    private NativePoll.PollFd[] _pollFds = new NativePoll.PollFd[4];
    private KafkaClient? _client;
    private long _lastId;

    /// <param name="readBufferBytes">How much one receive call takes at most.</param>
    public SocketClientNetwork(int readBufferBytes = 256 * 1024)
    {
        _readBuffer = new byte[readBufferBytes];
    }

    /// <summary>Receives the round-trip time (Stopwatch ticks) of every answered request whose API key it is
    /// interested in; null to time nothing. Set before connecting. Requests that get no response (Produce with
    /// acks=0) must not be timed, or the pairing slips: leave it null then.</summary>
    public Action<ApiKey, long>? RequestTimed { get; set; }

    /// <summary>Bytes written to and read from sockets.</summary>
    public long BytesSent { get; private set; }
    public long BytesReceived { get; private set; }

    private sealed class Conn(ConnectionId id, Socket socket)
    {
        public readonly ConnectionId Id = id;
        public readonly Socket Socket = socket;
        public bool Connecting;
        public byte[] Out = new byte[OutputBufferInitialBytes];
        public int OutStart;
        public int OutEnd;
        public bool WantWrite;

        // Request timing: send stamps in request order, and the state of the response frame being read.
        public readonly Queue<(ApiKey Key, long SentTicks)> Sent = new();
        public int FrameRemaining;
        public int PrefixHave;
        public uint Prefix;

        public int Pending => OutEnd - OutStart;

        // What the last wait found.
        public bool Readable;
        public bool Writable;
    }

    /// <summary>The client whose inputs this network delivers. Call once, before the client is used.</summary>
    public void Attach(KafkaClient client)
    {
        Check.That(_client is null, "one client per network");
        _client = client;
    }

    private KafkaClient Client => _client ?? throw new InvalidOperationException("no client attached");

    public int OpenConnections => _conns.Count;

    /// <summary>Bytes the client sent that still wait for their socket (the socket's own buffer was full).</summary>
    public long PendingOutputBytes
    {
        get
        {
            long n = 0;
            foreach (var c in _conns) n += c.Pending;
            return n;
        }
    }

    // ---- IClientNetwork (called by the client, on the owner thread) -----------------------------------------

    public ConnectionId Connect(BrokerAddress address)
    {
        var id = new ConnectionId(++_lastId);
        IPAddress ip;
        try
        {
            ip = Resolve(address.Host);
        }
        catch (SocketException)
        {
            _events.Enqueue((id, false));
            return id;
        }
        var socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, Blocking = false };
        var c = new Conn(id, socket);
        try
        {
            socket.Connect(new IPEndPoint(ip, address.Port));
            _events.Enqueue((id, true));
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress or SocketError.AlreadyInProgress)
        {
            c.Connecting = true; // completes when the socket turns writable
        }
        catch (SocketException)
        {
            socket.Dispose();
            _events.Enqueue((id, false));
            return id;
        }
        _byId.Add(id.Value, c);
        _conns.Add(c);
        return id;
    }

    public void Send(ConnectionId connection, ReadOnlySpan<byte> bytes)
    {
        if (!_byId.TryGetValue(connection.Value, out var c)) return; // closed; the client hears of it
        if (RequestTimed is not null && bytes.Length >= 6)
            c.Sent.Enqueue(((ApiKey)BinaryPrimitives.ReadInt16BigEndian(bytes[4..]), Stopwatch.GetTimestamp()));
        if (c.Pending == 0 && !c.Connecting && !c.WantWrite)
        {
            // Nothing waiting: write straight from the caller's buffer and keep only what the socket did not take.
            int n = c.Socket.Send(bytes, SocketFlags.None, out var error);
            if (error == System.Net.Sockets.SocketError.Success)
            {
                BytesSent += n;
                bytes = bytes[n..];
                if (bytes.IsEmpty) return;
            }
            else if (error != System.Net.Sockets.SocketError.WouldBlock)
            {
                // Broken: the next wait finds the socket readable with the error and reports the loss.
                return;
            }
        }
        if (c.Out.Length - c.OutEnd < bytes.Length)
        {
            int pending = c.Pending;
            if (c.Out.Length < (long)pending + bytes.Length)
            {
                long size = Math.Max((long)c.Out.Length * 2, (long)pending + bytes.Length);
                Check.That(size <= OutputBufferMaxBytes, "output buffer bounded");
                var bigger = new byte[size];
                c.Out.AsSpan(c.OutStart, pending).CopyTo(bigger);
                c.Out = bigger;
            }
            else
            {
                c.Out.AsSpan(c.OutStart, pending).CopyTo(c.Out);
            }
            c.OutStart = 0;
            c.OutEnd = pending;
        }
        bytes.CopyTo(c.Out.AsSpan(c.OutEnd));
        c.OutEnd += bytes.Length;
    }

    public void Close(ConnectionId connection)
    {
        if (_byId.TryGetValue(connection.Value, out var c)) Forget(c);
    }

    // ---- the loop ----------------------------------------------------------------------------------------

    /// <summary>
    /// Delivers queued connection events, writes pending output, then waits up to <paramref name="timeoutMicros"/>
    /// for a socket to become readable (or writable, while output waits) and delivers what it read. Every input
    /// to the client is followed by <see cref="KafkaClient.Poll"/>; output it queued is written before returning.
    /// </summary>
    public void RunOnce(long timeoutMicros)
    {
        var client = Client;
        if (_events.Count > 0)
        {
            while (_events.TryDequeue(out var e))
            {
                if (e.Connected) client.OnConnected(e.Id);
                else client.OnClosed(e.Id);
                client.Poll();
            }
            Flush();
            return;
        }
        Flush();

        int timeout = (int)Math.Clamp(timeoutMicros, 0, int.MaxValue);
        if (_conns.Count == 0)
        {
            if (timeout > 0) Thread.Sleep(TimeSpan.FromMicroseconds(timeout));
            return;
        }
        if (NativePoll.Supported) WaitPoll(timeout);
        else WaitSelect(timeout);

        // Act on the ready connections (a callback may close some).
        _scratch.Clear();
        _scratch.AddRange(_conns);
        foreach (var c in _scratch)
        {
            if (!_byId.ContainsKey(c.Id.Value) || (!c.Readable && !c.Writable)) continue;
            if (c.Connecting)
            {
                if (PendingError(c) != 0)
                {
                    Lost(c);
                    continue;
                }
                c.Connecting = false;
                client.OnConnected(c.Id);
                client.Poll();
                continue;
            }
            if (c.Writable) c.WantWrite = false;
            if (c.Readable) Read(c);
        }
        Flush();
    }

    /// <summary>ppoll over every connection: readable (or broken) sets <see cref="Conn.Readable"/>, writable sets
    /// <see cref="Conn.Writable"/> (a connect finishing counts as writable).</summary>
    private void WaitPoll(int timeoutMicros)
    {
        if (_pollFds.Length < _conns.Count) _pollFds = new NativePoll.PollFd[Math.Max(_conns.Count, 2 * _pollFds.Length)];
        for (int i = 0; i < _conns.Count; i++)
        {
            var c = _conns[i];
            short events = 0;
            if (!c.Connecting) events |= NativePoll.PollIn;
            if (c.Connecting || c.WantWrite) events |= NativePoll.PollOut;
            _pollFds[i] = new NativePoll.PollFd { Fd = (int)c.Socket.Handle, Events = events };
        }
        int ready = NativePoll.Wait(_pollFds, _conns.Count, timeoutMicros);
        for (int i = 0; i < _conns.Count; i++)
        {
            var c = _conns[i];
            short r = ready > 0 ? _pollFds[i].Revents : (short)0;
            const short broken = NativePoll.PollErr | NativePoll.PollHup | NativePoll.PollNval;
            c.Readable = (r & (NativePoll.PollIn | broken)) != 0;
            c.Writable = (r & NativePoll.PollOut) != 0 || (c.Connecting && (r & broken) != 0);
        }
    }

    /// <summary>The portable wait: <see cref="Socket.Select"/>, millisecond timeouts.</summary>
    private void WaitSelect(int timeoutMicros)
    {
        _readList.Clear();
        _writeList.Clear();
        _errorList.Clear();
        foreach (var c in _conns)
        {
            if (c.Connecting || c.WantWrite) _writeList.Add(c.Socket);
            if (!c.Connecting) _readList.Add(c.Socket);
            _errorList.Add(c.Socket);
        }
        Socket.Select(_readList, _writeList, _errorList, timeoutMicros);
        foreach (var c in _conns)
        {
            bool error = _errorList.Contains(c.Socket);
            c.Readable = _readList.Contains(c.Socket) || (!c.Connecting && error);
            c.Writable = _writeList.Contains(c.Socket) || (c.Connecting && error);
        }
    }

    private static int PendingError(Conn c)
    {
        try
        {
            return (int)c.Socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error)!;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return -1;
        }
    }

    private void Read(Conn c)
    {
        var client = Client;
        for (int i = 0; i < ReadsPerWakeMax; i++)
        {
            int n = c.Socket.Receive(_readBuffer, SocketFlags.None, out var error);
            if (error == System.Net.Sockets.SocketError.WouldBlock) return;
            if (error != System.Net.Sockets.SocketError.Success || n == 0)
            {
                Lost(c);
                return;
            }
            BytesReceived += n;
            if (RequestTimed is not null) TimeResponses(c, _readBuffer.AsSpan(0, n));
            client.OnReceive(c.Id, _readBuffer.AsSpan(0, n));
            client.Poll();
            if (!_byId.ContainsKey(c.Id.Value)) return; // the client closed it
            if (n < _readBuffer.Length) return; // drained for now
        }
    }

    /// <summary>Follows the response frames of a connection; each one completed answers the oldest stamp.</summary>
    private void TimeResponses(Conn c, ReadOnlySpan<byte> bytes)
    {
        while (bytes.Length > 0)
        {
            if (c.FrameRemaining == 0)
            {
                c.Prefix = (c.Prefix << 8) | bytes[0];
                bytes = bytes[1..];
                if (++c.PrefixHave < Frame.SizePrefixBytes) continue;
                c.PrefixHave = 0;
                c.FrameRemaining = (int)Math.Max(1, c.Prefix);
                c.Prefix = 0;
                continue;
            }
            int take = Math.Min(c.FrameRemaining, bytes.Length);
            c.FrameRemaining -= take;
            bytes = bytes[take..];
            if (c.FrameRemaining == 0 && c.Sent.TryDequeue(out var sent))
                RequestTimed!(sent.Key, Stopwatch.GetTimestamp() - sent.SentTicks);
        }
    }

    /// <summary>Writes pending output until done or the socket's buffer is full.</summary>
    public void Flush()
    {
        if (_conns.Count == 0) return;
        _scratch.Clear();
        _scratch.AddRange(_conns);
        foreach (var c in _scratch)
        {
            if (c.Connecting || c.Pending == 0 || !_byId.ContainsKey(c.Id.Value)) continue;
            while (c.Pending > 0)
            {
                int n = c.Socket.Send(c.Out.AsSpan(c.OutStart, c.Pending), SocketFlags.None, out var error);
                if (error == System.Net.Sockets.SocketError.WouldBlock)
                {
                    c.WantWrite = true;
                    break;
                }
                if (error != System.Net.Sockets.SocketError.Success)
                {
                    Lost(c);
                    break;
                }
                BytesSent += n;
                c.OutStart += n;
            }
            if (c.Pending == 0) c.OutStart = c.OutEnd = 0;
        }
    }

    /// <summary>The connection broke under us: forget it and tell the client.</summary>
    private void Lost(Conn c)
    {
        Forget(c);
        Client.OnClosed(c.Id);
        Client.Poll();
    }

    private void Forget(Conn c)
    {
        _byId.Remove(c.Id.Value);
        _conns.Remove(c);
        c.Socket.Dispose();
    }

    private IPAddress Resolve(string host)
    {
        if (_resolved.TryGetValue(host, out var known)) return known;
        if (!IPAddress.TryParse(host, out var ip))
        {
            var addresses = Dns.GetHostAddresses(host);
            ip = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses.FirstOrDefault()
                ?? throw new SocketException((int)System.Net.Sockets.SocketError.HostNotFound);
        }
        _resolved[host] = ip;
        return ip;
    }

    public void Dispose()
    {
        foreach (var c in _conns) c.Socket.Dispose();
        _conns.Clear();
        _byId.Clear();
        _events.Clear();
    }
}
