using DetKafka.Core.Abstractions;
using DetKafka.Core.Util;
using DetKafka.Sim.Trace;

namespace DetKafka.Sim.World;

/// <summary>
/// Something that happens at a virtual time: a segment arriving, a sync completing, a timer, a fault. Its
/// action returns the details for the trace (null: nothing to say). <see cref="Actor"/> and <see cref="Kind"/>
/// name it in the trace; <see cref="Message"/> is the network message it delivers (0: none).
/// </summary>
/// A struct: the queue holds it inline, one object (the action's closure) per scheduled event rather than two.
public readonly struct SimEvent(long timeUs, string actor, string kind, Func<TraceDetails> action, long message = 0)
{
    public long TimeUs { get; } = timeUs;
    public string Actor { get; } = actor;
    public string Kind { get; } = kind;
    public long Message { get; } = message;
    internal Func<TraceDetails> Action { get; } = action;
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
