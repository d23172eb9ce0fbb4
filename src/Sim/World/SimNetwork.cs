using System.Buffers.Binary;
using System.Globalization;
using DetKafka.Sim.Trace;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Client;
using DetKafka.Core.Util;

namespace DetKafka.Sim.World;

/// <summary>A machine on the simulated network: a broker node or a client host.</summary>
public abstract class Endpoint(int index, string name)
{
    /// <summary>Dense index into the link matrix.</summary>
    public int Index { get; } = index;

    /// <summary>"n1", "c2": the trace's actor names.</summary>
    public string Name { get; } = name;

    /// <summary>Bumped on every crash: input stamped with an older incarnation is for a dead process.</summary>
    public int Incarnation { get; protected internal set; }

    /// <summary>A process is running on the machine.</summary>
    public abstract bool IsUp { get; }

    public override string ToString() => Name;
}

/// <summary>The faults on one directed link (from one machine to another). Times are global virtual us.</summary>
public sealed class LinkState
{
    /// <summary>Partitioned until then: every transmission is dropped.</summary>
    public long CutUntilUs { get; set; }

    /// <summary>Clogged until then: transmissions are held (a full queue somewhere) and released together.</summary>
    public long ClogUntilUs { get; set; }

    /// <summary>Lossy until then: each transmission is dropped with <see cref="LossProbability"/>.</summary>
    public long LossUntilUs { get; set; }
    public double LossProbability { get; set; }

    public void Heal()
    {
        CutUntilUs = 0;
        ClogUntilUs = 0;
        LossUntilUs = 0;
        LossProbability = 0;
    }
}

/// <summary>
/// TCP between simulated machines, honestly: a connection is an ordered byte stream. Each send becomes one or
/// more segments (split at random points, so receivers see partial frames) delivered in order, each after a
/// latency drawn from a log-normal body with an exponential tail. Packet-level faults map onto TCP as follows:
/// a dropped transmission (partition or loss) is retransmitted after the RTO, doubling each time, and the
/// segment, with everything behind it, waits; when retransmission would outlast TCP_USER_TIMEOUT the
/// connection resets and both ends see it close. A clogged link holds segments until it unclogs (or the user
/// timeout resets the connection). Duplication does not exist inside a connection: it appears when a client
/// retries a request on a new connection after a reset. Reordering does not exist inside a connection: it
/// appears between connections, whose segments race with independent delays.
/// </summary>
public sealed partial class SimNetwork : ISimEventTarget
{
    /// <summary>Bound on segments held for a receiver that stopped reading (backpressure).</summary>
    public const int HeldSegmentsMax = 100_000;

    private readonly SimWorld _world;
    private readonly IRandom _random;
    private readonly LinkState[,] _links;
    private readonly Dictionary<long, SimConnection> _byId = new();
    private readonly List<SimConnection> _open = new();
    private readonly SegmentPool _segments = new();
    private long _nextConnectionId;
    private long _nextMessageId;

    internal SimNetwork(SimWorld world, IRandom random, int endpoints)
    {
        _world = world;
        _random = random;
        _links = new LinkState[endpoints, endpoints];
        for (int i = 0; i < endpoints; i++)
            for (int j = 0; j < endpoints; j++) _links[i, j] = new LinkState();
    }

    public LinkState Link(Endpoint from, Endpoint to) => _links[from.Index, to.Index];

    /// <summary>Connections with at least one end still open, oldest first.</summary>
    public IReadOnlyList<SimConnection> OpenConnections => _open;

    public void HealAllLinks()
    {
        foreach (var link in _links) link.Heal();
    }

    private long UserTimeoutUs => _world.Options.TcpUserTimeoutMs * 1000;

    /// <summary>
    /// When a segment sent now from one machine to another arrives, or -1 when TCP would give up first (then
    /// <paramref name="resetAtUs"/> is when the sender's user timeout fires).
    /// </summary>
    internal long Transmit(Endpoint from, Endpoint to, out long resetAtUs)
    {
        long now = _world.NowUs;
        var link = Link(from, to);
        long deadline = now + UserTimeoutUs;
        resetAtUs = deadline;
        long t = now, rto = _world.Options.TcpRtoMs * 1000;
        while (true)
        {
            bool cut = link.CutUntilUs > t;
            bool lost = !cut && link.LossUntilUs > t && _random.NextBool(link.LossProbability);
            if (!cut && !lost) break;
            _world.Count(cut ? "net.transmissions-dropped-partition" : "net.transmissions-dropped-loss");
            t += rto;
            rto *= 2;
            if (t > deadline) return -1;
        }
        if (link.ClogUntilUs > t)
        {
            _world.Count("net.segments-clogged");
            if (link.ClogUntilUs > deadline) return -1;
            t = link.ClogUntilUs;
        }
        if (t > now) _world.Count("net.segments-retransmitted-or-held");
        return t + DrawLatencyUs();
    }

    internal long DrawLatencyUs()
    {
        var o = _world.Options;
        double latency = o.LatencyMedianUs * DetMath.Exp(o.LatencySigma * DetMath.Normal(_random));
        var delay = o.Fault(FaultKind.Delay);
        if (delay.Enabled && _random.NextBool(delay.Intensity))
        {
            latency += DetMath.Exponential(_random, delay.DurationMaxMs * 1000.0);
            _world.Count("net.segments-tail-delayed");
        }
        return (long)Math.Clamp(latency, 10, 60_000_000);
    }

    // ---- opening ---------------------------------------------------------------------------------------------

    /// <summary>A client connects to a broker's advertised address (host "n{id}" or "node-{id}").</summary>
    internal ConnectionId ConnectFromClient(ClientHost host, BrokerAddress address)
    {
        var id = new ConnectionId(++_nextConnectionId);
        var target = _world.ResolveNode(address);
        if (target is null)
        {
            ScheduleInitiatorClosed(host, id, host.Incarnation, _world.NowUs + 1000, "unknown host " + address);
            return id;
        }
        var c = new SimConnection(id.Value, host, target, host.Incarnation);
        Register(c);
        OpenTo(c, host, target);
        return id;
    }

    /// <summary>A broker opens a connection to a peer broker's advertised address: the same links, faults and
    /// trace as a client's connection.</summary>
    internal ConnectionId ConnectFromNode(SimNode node, BrokerAddress address)
    {
        var id = new ConnectionId(++_nextConnectionId);
        var peer = _world.ResolveNode(address);
        if (peer is null)
        {
            int incarnation = node.Incarnation;
            _world.Schedule(_world.NowUs + 1000, node.Name, "connect-failed", () =>
            {
                if (node.Incarnation != incarnation || !node.IsUp) return null;
                _world.NodeInput(node, b => b.OnConnectFailed(id));
                return id + " unknown host " + address;
            });
            return id;
        }
        var c = new SimConnection(id.Value, node, peer, node.Incarnation);
        Register(c);
        OpenTo(c, node, peer);
        return id;
    }

    /// <summary>The SYN: a message of its own in the trace, so the timeline draws connection attempts.</summary>
    private void OpenTo(SimConnection c, Endpoint from, Endpoint to)
    {
        long message = ++_nextMessageId;
        long arrival = Transmit(from, to, out long resetAt);
        if (arrival < 0)
        {
            _world.Note(from.Name, "connect", $"conn-{c.Id} to {to.Name}: SYN never arrives", message);
            Break(c, resetAt, "connect timed out");
            return;
        }
        _world.Note(from.Name, "connect", $"conn-{c.Id} to {to.Name}", message);
        c.Forward.LastArrivalUs = arrival;
        _world.Schedule(arrival, to.Name, "syn", () => OnSyn(c), message);
    }

    private void Register(SimConnection c)
    {
        _byId.Add(c.Id, c);
        _open.Add(c);
        _world.Count("net.connections");
    }

    private void ScheduleInitiatorClosed(ClientHost host, ConnectionId id, int incarnation, long atUs, string reason)
    {
        _world.Schedule(atUs, host.Name, "connect-failed", () =>
        {
            if (host.Incarnation != incarnation || !host.IsUp) return null;
            _world.ClientInput(host, c => { if (host.Raw?.Owns(id) == true) host.Raw.OnClosed(id); else c.OnClosed(id); });
            return id + " " + reason;
        });
    }

    private string? OnSyn(SimConnection c)
    {
        if (c.BrokenAtUs <= _world.NowUs || !c.InitiatorOpen) return null;
        var node = (SimNode)c.Acceptor;
        if (node.Paused)
        {
            node.Defer(() => OnSyn(c));
            return "deferred (paused)";
        }
        if (!node.IsUp)
        {
            // The machine's kernel answers RST: the initiator learns after the way back.
            long back = Transmit(node, c.Initiator, out long resetAt);
            Break(c, back < 0 ? resetAt : back, "connection refused");
            return $"conn-{c.Id} refused (node down)";
        }
        c.AcceptorOpen = true;
        c.AcceptorIncarnation = node.Incarnation;
        long ack = Transmit(node, c.Initiator, out long ackReset);
        long message = ++_nextMessageId;
        _world.Note(node.Name, "accept", $"conn-{c.Id} SYN-ACK to {c.Initiator.Name}{(ack < 0 ? ": never arrives" : "")}", message);
        if (ack < 0) Break(c, ackReset, "SYN-ACK lost");
        else c.Backward.LastArrivalUs = ack;
        _world.NodeInput(node, b => b.OnConnectionOpened(new ConnectionId(c.Id)));
        if (ack >= 0) _world.Schedule(ack, c.Initiator.Name, "syn-ack", () => OnSynAck(c), message);
        return $"conn-{c.Id} from {c.Initiator.Name} accepted";
    }

    private string? OnSynAck(SimConnection c)
    {
        if (c.BrokenAtUs <= _world.NowUs || !c.InitiatorOpen || c.Initiator.Incarnation != c.InitiatorIncarnation) return null;
        c.Established = true;
        if (c.Initiator is ClientHost host) _world.ClientInput(host, client => { var id = new ConnectionId(c.Id); if (host.Raw?.Owns(id) == true) host.Raw.OnConnected(id); else client.OnConnected(id); });
        else if (c.Initiator is SimNode node)
        {
            if (node.Paused) node.Defer(() => { _world.NodeInput(node, b => b.OnConnected(new ConnectionId(c.Id))); return "connected (deferred)"; });
            else _world.NodeInput(node, b => b.OnConnected(new ConnectionId(c.Id)));
        }
        return $"conn-{c.Id} established";
    }

    // ---- data ------------------------------------------------------------------------------------------------

    internal void Send(Endpoint from, ConnectionId id, ReadOnlySpan<byte> bytes)
    {
        if (!_byId.TryGetValue(id.Value, out var c) || !c.IsOpenAt(from) || c.BrokenAtUs <= _world.NowUs) return;
        var dir = c.From(from);
        var to = c.Other(from);
        long message = ++_nextMessageId;
        if (dir.Doomed)
        {
            // Stuck behind a segment TCP could not deliver; the reset is on its way.
            NoteSend(c, from, to, bytes, ": dropped behind an undeliverable segment", 1, message);
            return;
        }
        if (from is ClientHost client && to is SimNode node) OnClientFrame(client, node, c, bytes); // SimNetwork.DelayedEndTxn.cs
        long arrival = Transmit(from, to, out long resetAt);
        if (arrival < 0)
        {
            NoteSend(c, from, to, bytes, ": never arrives (user timeout)", 1, message);
            dir.Doomed = true;
            Break(c, resetAt, "user timeout: data unacknowledged");
            return;
        }
        _world.Count("net.bytes-sent", bytes.Length);
        // Now and then split the stream at random points: receivers must reassemble frames from partial reads.
        int pieces = bytes.Length < 2 || _random.NextBool(0.7) ? 1 : _random.NextInt(2, Math.Min(4, bytes.Length + 1));
        NoteSend(c, from, to, bytes, null, pieces, message);
        int start = 0;
        for (int i = 0; i < pieces; i++)
        {
            int end = i == pieces - 1 ? bytes.Length : _random.NextInt(start + 1, bytes.Length - (pieces - 1 - i) + 1);
            // A pooled copy (returned once delivered); the receivers copy what they keep.
            var chunk = _segments.Rent(end - start);
            bytes[start..end].CopyTo(chunk);
            arrival = Math.Max(arrival, dir.LastArrivalUs + 1);
            Check.That(arrival > _world.NowUs && arrival > dir.LastArrivalUs, "segments of a direction arrive in order, in the future");
            dir.LastArrivalUs = arrival;
            // A direction's segments arrive in the order they were sent (strictly increasing times), so the
            // event finds its bytes at the head of the direction's in-flight queue.
            dir.InFlight.Enqueue(new Segment(chunk, end - start));
            start = end;
            _world.Schedule(arrival, to.Name, "deliver", this, dir, DeliverEvent, 0, 0, message);
            arrival += _random.NextInt(0, 50);
            _world.Count("net.segments");
        }
    }

    private const int DeliverEvent = 1;

    TraceDetails ISimEventTarget.Run(in SimEvent e)
    {
        Check.That(e.Code == DeliverEvent, "the network's only typed event is a delivery");
        var dir = (Direction)e.Arg!;
        var segment = dir.InFlight.Dequeue();
        return Deliver(dir.Connection, dir, segment.Bytes, segment.Length, pooled: true);
    }

    /// <summary>A segment arrives. <paramref name="pooled"/>: <paramref name="chunk"/> is rented and goes back to the
    /// pool unless it is kept (held or deferred: then an exact copy is kept and the rented array still goes back).</summary>
    private TraceDetails Deliver(SimConnection c, Direction dir, byte[] chunk, int length, bool pooled)
    {
        var to = dir.Receiver;
        if (c.BrokenAtUs <= _world.NowUs || !c.IsOpenAt(to) || to.Incarnation != c.IncarnationOf(to))
        {
            _world.Count("net.segments-dropped-closed");
            Release(chunk, pooled);
            return $"conn-{c.Id} {length} bytes dropped (connection closed)";
        }
        if (to is SimNode node)
        {
            if (node.Paused)
            {
                DeferDelivery(node, c, dir, Keep(chunk, length, pooled));
                return "deferred (paused)";
            }
            if (dir.ReceiveDisabled || dir.Held.Count > 0)
            {
                Check.That(dir.Held.Count < HeldSegmentsMax, "held segments bounded");
                dir.Held.Enqueue(Keep(chunk, length, pooled));
                _world.Count("net.segments-held-backpressure");
                return $"conn-{c.Id} held {length} bytes (receive disabled)";
            }
            if (_world.BeginNodeInput(node) is { } broker)
            {
                broker.OnReceive(new ConnectionId(c.Id), chunk.AsSpan(0, length));
                _world.EndNodeInput(node);
            }
        }
        else
        {
            var toHost = (ClientHost)to;
            var id = new ConnectionId(c.Id);
            if (toHost.Client is null) { }
            else if (_world.BeginClientInput(toHost) is not { } client)
            {
                DeferClientReceive(toHost, id, Keep(chunk, length, pooled));
                pooled = false; // Keep gave the rented array back
            }
            else
            {
                if (toHost.Raw?.Owns(id) == true) toHost.Raw.OnReceive(id, chunk.AsSpan(0, length));
                else client.OnReceive(id, chunk.AsSpan(0, length));
                _world.EndClientInput(toHost, client);
            }
        }
        Release(chunk, pooled);
        return _world.Details($"conn-{c.Id} {length} bytes");
    }

    // The paused paths capture their values in closures; kept out of Deliver, whose parameters would otherwise be
    // hoisted into a closure object on every call.
    private void DeferDelivery(SimNode node, SimConnection c, Direction dir, byte[] kept)
        => node.Defer(() => Deliver(c, dir, kept, kept.Length, pooled: false));

    private void DeferClientReceive(ClientHost host, ConnectionId id, byte[] kept)
        => _world.ClientInput(host, cl => { if (host.Raw?.Owns(id) == true) host.Raw.OnReceive(id, kept); else cl.OnReceive(id, kept); });

    private byte[] Keep(byte[] chunk, int length, bool pooled)
    {
        if (!pooled) return chunk;
        var copy = chunk.AsSpan(0, length).ToArray();
        _segments.Return(chunk);
        return copy;
    }

    private void Release(byte[] chunk, bool pooled)
    {
        if (pooled) _segments.Return(chunk);
    }

    internal void SetReceiveEnabled(Endpoint at, ConnectionId id, bool enabled)
    {
        if (!_byId.TryGetValue(id.Value, out var c) || !c.IsOpenAt(at)) return;
        var dir = c.Toward(at);
        _world.Count(enabled ? "net.receive-resumed" : "net.receive-paused-backpressure");
        dir.ReceiveDisabled = !enabled;
        if (enabled && dir.Held.Count > 0)
            _world.Schedule(_world.NowUs, at.Name, "resume-receive", () => FlushHeld(c, dir));
    }

    private string? FlushHeld(SimConnection c, Direction dir)
    {
        int delivered = 0;
        var node = (SimNode)dir.Receiver;
        while (dir.Held.Count > 0 && !dir.ReceiveDisabled)
        {
            if (c.BrokenAtUs <= _world.NowUs || !c.IsOpenAt(node) || node.Incarnation != c.IncarnationOf(node))
            {
                dir.Held.Clear();
                break;
            }
            if (node.Paused)
            {
                node.Defer(() => FlushHeld(c, dir));
                break;
            }
            var chunk = dir.Held.Dequeue();
            _world.NodeInput(node, b => b.OnReceive(new ConnectionId(c.Id), chunk));
            delivered++;
        }
        return $"conn-{c.Id} released {delivered} held segments";
    }

    private static readonly string[] ApiNames = BuildApiNames();

    private static string[] BuildApiNames()
    {
        var names = new string[128];
        foreach (var key in Enum.GetValues<Core.Protocol.ApiKey>())
            if ((int)key >= 0 && (int)key < names.Length) names[(int)key] = key.ToString();
        return names;
    }

    /// <summary>
    /// The "send" record: what the send carries. Every send is one whole Kafka frame (clients and brokers write
    /// one frame per call), so the header is at its start. The initiator of a connection sends requests (size,
    /// api key, version, correlation id), the acceptor responses (size, correlation id). Built part by part so
    /// that without a sink nothing is formatted.
    /// </summary>
    private void NoteSend(SimConnection c, Endpoint from, Endpoint to, ReadOnlySpan<byte> bytes, string? outcome, int pieces, long message)
    {
        var d = new TraceDetailsBuilder(0, 0, _world.Tracing);
        d.AppendLiteral("conn-");
        d.AppendFormatted(c.Id);
        d.AppendLiteral(" ");
        if (from == c.Initiator && bytes.Length >= 12)
        {
            short key = BinaryPrimitives.ReadInt16BigEndian(bytes[4..]);
            if (key >= 0 && key < ApiNames.Length && ApiNames[key] is { } name) d.AppendFormatted(name);
            else
            {
                d.AppendLiteral("api ");
                d.AppendFormatted(key);
            }
            d.AppendLiteral(" v");
            d.AppendFormatted(BinaryPrimitives.ReadInt16BigEndian(bytes[6..]));
            d.AppendLiteral(" request #");
            d.AppendFormatted(BinaryPrimitives.ReadInt32BigEndian(bytes[8..]));
            d.AppendLiteral(", ");
        }
        else if (from != c.Initiator && bytes.Length >= 8)
        {
            d.AppendLiteral("response #");
            d.AppendFormatted(BinaryPrimitives.ReadInt32BigEndian(bytes[4..]));
            d.AppendLiteral(", ");
        }
        d.AppendFormatted(bytes.Length);
        d.AppendLiteral(" bytes to ");
        d.AppendFormatted(to.Name);
        if (outcome is not null) d.AppendLiteral(outcome);
        if (pieces > 1)
        {
            d.AppendLiteral(" in ");
            d.AppendFormatted(pieces);
            d.AppendLiteral(" segments");
        }
        _world.Note(from.Name, "send", d.Build(), message);
    }

    // ---- closing ---------------------------------------------------------------------------------------------

    /// <summary>An orderly close by one end: the FIN follows the data already sent.</summary>
    internal void Close(Endpoint from, ConnectionId id)
    {
        if (!_byId.TryGetValue(id.Value, out var c) || !c.IsOpenAt(from)) return;
        c.CloseEnd(from);
        var dir = c.From(from);
        var to = c.Other(from);
        if (c.BrokenAtUs <= _world.NowUs || dir.Doomed)
        {
            Forget(c);
            return;
        }
        long arrival = Transmit(from, to, out long resetAt);
        if (arrival < 0)
        {
            Break(c, resetAt, "FIN lost");
            return;
        }
        arrival = Math.Max(arrival, dir.LastArrivalUs + 1);
        dir.LastArrivalUs = arrival;
        _world.Schedule(arrival, to.Name, "fin", () =>
        {
            if (c.BrokenAtUs <= _world.NowUs) return null;
            string? note = NotifyClosed(c, to, "closed by peer");
            Forget(c);
            return note;
        });
    }

    /// <summary>Resets the connection at <paramref name="atUs"/>: every end still open sees it close then; data
    /// arriving from then on is lost.</summary>
    internal void Break(SimConnection c, long atUs, string reason)
    {
        if (atUs >= c.BrokenAtUs) return;
        c.BrokenAtUs = atUs;
        _world.Count("net.connection-resets");
        _world.Schedule(atUs, "net", "reset", () =>
        {
            if (c.BrokenAtUs != atUs) return null;
            string a = NotifyClosed(c, c.Initiator, reason) ?? "";
            string b = NotifyClosed(c, c.Acceptor, reason) ?? "";
            Forget(c);
            return $"conn-{c.Id} {c.Initiator.Name}<->{c.Acceptor.Name} reset ({reason}) {a} {b}".TrimEnd();
        });
    }

    private string? NotifyClosed(SimConnection c, Endpoint end, string reason)
    {
        if (!c.IsOpenAt(end)) return null;
        c.CloseEnd(end);
        if (end.Incarnation != c.IncarnationOf(end) || !end.IsUp) return null;
        var id = new ConnectionId(c.Id);
        if (end is SimNode node)
        {
            if (node.Paused) node.Defer(() => { _world.NodeInput(node, b => b.OnConnectionClosed(id)); return "closed (deferred)"; });
            else _world.NodeInput(node, b => b.OnConnectionClosed(id));
        }
        else
        {
            var endHost = (ClientHost)end;
            _world.ClientInput(endHost, client => { if (endHost.Raw?.Owns(id) == true) endHost.Raw.OnClosed(id); else client.OnClosed(id); });
        }
        return $"{end.Name} sees {reason}";
    }

    private void Forget(SimConnection c)
    {
        if (c.InitiatorOpen || c.AcceptorOpen) return;
        if (_byId.Remove(c.Id)) _open.Remove(c);
    }

    /// <summary>A machine's process died: its ends go silent at once; each peer notices when its own user
    /// timeout fires or the rebooted machine answers with RST, drawn uniformly up to the user timeout.</summary>
    internal void ProcessDied(Endpoint e)
    {
        foreach (var c in _open.ToArray())
        {
            if (c.Initiator != e && c.Acceptor != e) continue;
            if (c.IsOpenAt(e)) c.CloseEnd(e);
            long notice = _world.NowUs + 1000 + (long)_random.NextBelow((ulong)UserTimeoutUs);
            if (c.InitiatorOpen || c.AcceptorOpen) Break(c, notice, "peer process died");
            else Forget(c);
        }
    }

    /// <summary>The connection-reset fault: an RST out of nowhere (a middlebox, a NAT table flush).</summary>
    internal SimConnection? ResetRandomConnection()
    {
        var candidates = _open.Where(c => c.BrokenAtUs == long.MaxValue && c.Established).ToList();
        if (candidates.Count == 0) return null;
        var victim = candidates[_random.NextInt(0, candidates.Count)];
        Break(victim, _world.NowUs, "connection reset");
        return victim;
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"SimNetwork({_open.Count} open connections)");
}

/// <summary>
/// The network's own buffers for segments in flight, by power-of-two size. Not the shared ArrayPool: Core rents from
/// that too, and a buffer of ours must never be one some other code still reads. Bounded: a few per size.
/// </summary>
internal sealed class SegmentPool
{
    private const int MinShift = 8, MaxShift = 24, PerSize = 64;
    private readonly Stack<byte[]>[] _free = Enumerable.Range(0, MaxShift + 1).Select(_ => new Stack<byte[]>()).ToArray();

    public byte[] Rent(int length)
    {
        int shift = Math.Max(MinShift, 32 - int.LeadingZeroCount(Math.Max(1, length) - 1));
        if (shift > MaxShift) return new byte[length];
        return _free[shift].TryPop(out var b) ? b : new byte[1 << shift];
    }

    public void Return(byte[] buffer)
    {
        int shift = 31 - int.LeadingZeroCount(buffer.Length);
        if (buffer.Length != 1 << shift || shift < MinShift || shift > MaxShift || _free[shift].Count >= PerSize) return;
        _free[shift].Push(buffer);
    }
}

/// <summary>A segment in flight: a rented buffer and how many of its bytes are the segment's.</summary>
internal readonly record struct Segment(byte[] Bytes, int Length);

/// <summary>One direction of a connection.</summary>
public sealed class Direction(SimConnection connection, Endpoint receiver)
{
    public SimConnection Connection { get; } = connection;
    public Endpoint Receiver { get; } = receiver;

    /// <summary>Segments sent and not yet arrived, in order (each has its "deliver" event scheduled).</summary>
    internal Queue<Segment> InFlight { get; } = new();

    /// <summary>Arrival time of the last segment scheduled: the next one arrives after it (in-order delivery).</summary>
    public long LastArrivalUs { get; set; }

    /// <summary>A segment could not be delivered; everything behind it waits for the reset.</summary>
    public bool Doomed { get; set; }

    /// <summary>The receiving broker asked to stop reading (backpressure); arrivals are held.</summary>
    public bool ReceiveDisabled { get; set; }

    public Queue<byte[]> Held { get; } = new();
}

/// <summary>A simulated TCP connection between an initiator (client or node) and an acceptor (node).</summary>
public sealed class SimConnection
{
    internal SimConnection(long id, Endpoint initiator, Endpoint acceptor, int initiatorIncarnation)
    {
        Id = id;
        Initiator = initiator;
        Acceptor = acceptor;
        InitiatorIncarnation = initiatorIncarnation;
        Forward = new Direction(this, acceptor);
        Backward = new Direction(this, initiator);
    }

    public long Id { get; }
    public Endpoint Initiator { get; }
    public Endpoint Acceptor { get; }
    public int InitiatorIncarnation { get; }
    public int AcceptorIncarnation { get; internal set; } = -1;
    public Direction Forward { get; }
    public Direction Backward { get; }
    public bool InitiatorOpen { get; private set; } = true;
    public bool AcceptorOpen { get; internal set; }
    public bool Established { get; internal set; }

    /// <summary>When the connection resets (long.MaxValue: not scheduled).</summary>
    public long BrokenAtUs { get; internal set; } = long.MaxValue;

    internal bool IsOpenAt(Endpoint e) => e == Initiator ? InitiatorOpen : AcceptorOpen;
    internal int IncarnationOf(Endpoint e) => e == Initiator ? InitiatorIncarnation : AcceptorIncarnation;
    internal Direction From(Endpoint e) => e == Initiator ? Forward : Backward;
    internal Direction Toward(Endpoint e) => e == Initiator ? Backward : Forward;
    internal Endpoint Other(Endpoint e) => e == Initiator ? Acceptor : Initiator;

    internal void CloseEnd(Endpoint e)
    {
        if (e == Initiator) InitiatorOpen = false;
        else AcceptorOpen = false;
    }
}
