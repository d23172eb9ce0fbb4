using DetKafka.Core.Abstractions;
using DetKafka.Core.Util;
using DetKafka.Sim.Trace;

namespace DetKafka.Sim.World;

/// <summary>
/// Something that happens at a virtual time: a segment arriving, a sync completing, a timer, a fault. Running it
/// returns the details for the trace (null: nothing to say). <see cref="Actor"/> and <see cref="Kind"/> name it in
/// the trace; <see cref="Message"/> is the network message it delivers (0: none).
/// </summary>
/// A struct held inline in the queue. The frequent events (a segment arriving, a node's or a client's poll, a sync
/// completing) are typed: a long-lived <see cref="ISimEventTarget"/> (the world, a connection's direction) and
/// the few values they need, so scheduling one allocates nothing. The rare ones carry a closure.
public readonly struct SimEvent
{
    public SimEvent(long timeUs, string actor, string kind, Func<TraceDetails> action, long message = 0)
        : this(timeUs, actor, kind, action, null, 0, 0, 0, message)
    {
    }

    internal SimEvent(long timeUs, string actor, string kind, ISimEventTarget target, object? arg, int code, int small, long value, long message)
        : this(timeUs, actor, kind, (object)target, arg, code, small, value, message)
    {
    }

    private SimEvent(long timeUs, string actor, string kind, object target, object? arg, int code, int small, long value, long message)
    {
        TimeUs = timeUs;
        Actor = actor;
        Kind = kind;
        Message = message;
        Target = target;
        Arg = arg;
        Code = code;
        Small = small;
        Value = value;
    }

    public long TimeUs { get; }
    public string Actor { get; }
    public string Kind { get; }
    public long Message { get; }

    /// <summary>A <see cref="Func{TraceDetails}"/> or an <see cref="ISimEventTarget"/>.</summary>
    internal object Target { get; }

    /// <summary>The typed event's values: what the target reads (an endpoint, which of its actions, an
    /// incarnation, a time).</summary>
    internal object? Arg { get; }
    internal int Code { get; }
    internal int Small { get; }
    internal long Value { get; }

    internal TraceDetails Run() => Target is ISimEventTarget t ? t.Run(this) : ((Func<TraceDetails>)Target)();
}

/// <summary>Runs typed events (<see cref="SimEvent"/>): long-lived objects, so the event itself is the only state.</summary>
internal interface ISimEventTarget
{
    TraceDetails Run(in SimEvent e);
}

/// <summary>
/// Pending events ordered by virtual time. Events at the same time are ordered by a key drawn from the seeded
/// random when they are scheduled, so simultaneous events interleave in a way the seed chooses rather than in
/// the order the code happened to schedule them (which would hide races). Callers that need an order among
/// their own events (segments of one connection) give them distinct times. Bounded.
/// </summary>
public sealed class EventQueue(IRandom random, int pendingMax)
{
    private readonly PriorityQueue<SimEvent, (long Time, ulong Tie, long Sequence)> _queue = new();
    private long _sequence;

    public int Count => _queue.Count;

    public void Schedule(SimEvent e)
    {
        Check.That(e.TimeUs >= 0, "events have non-negative times");
        Check.That(_queue.Count < pendingMax, "pending events bounded");
        _queue.Enqueue(e, (e.TimeUs, random.NextUInt64(), _sequence++));
    }

    public bool TryDequeue(out SimEvent e) => _queue.TryDequeue(out e, out _);

    public long PeekTimeUs => _queue.TryPeek(out _, out var p) ? p.Time : long.MaxValue;
}
