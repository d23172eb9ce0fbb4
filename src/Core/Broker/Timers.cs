using DetKafka.Core.Util;

namespace DetKafka.Core.Broker;

/// <summary>A scheduled callback; cancelling it leaves it in the queue to be skipped when due.</summary>
public sealed class TimerHandle
{
    internal TimerHandle(long deadlineMs, Action callback)
    {
        DeadlineMs = deadlineMs;
        Callback = callback;
    }

    public long DeadlineMs { get; }
    internal Action Callback { get; }
    public bool IsCancelled { get; private set; }
    public void Cancel() => IsCancelled = true;
}

/// <summary>
/// Deadlines on the monotonic clock. Core owns no timer: the driver calls <see cref="BrokerNode.Poll"/> once
/// the clock passes <see cref="NextDeadlineMs"/>. Ties fire in scheduling order (a sequence number breaks
/// them) so runs are deterministic.
/// </summary>
public sealed class Timers
{
    public const int PendingMax = 1_000_000;

    private readonly PriorityQueue<TimerHandle, (long DeadlineMs, long Sequence)> _queue = new();
    private long _sequence;

    public int Count => _queue.Count;

    public TimerHandle Schedule(long deadlineMs, Action callback)
    {
        Check.That(_queue.Count < PendingMax, "timer queue bounded");
        var handle = new TimerHandle(deadlineMs, callback);
        _queue.Enqueue(handle, (deadlineMs, _sequence++));
        return handle;
    }

    public long NextDeadlineMs
    {
        get
        {
            while (_queue.TryPeek(out var head, out _) && head.IsCancelled) _queue.Dequeue();
            return _queue.TryPeek(out var next, out var priority) ? priority.DeadlineMs : long.MaxValue;
        }
    }

    /// <summary>Fire every timer due at <paramref name="nowMs"/>; callbacks may schedule more.</summary>
    public void RunDue(long nowMs)
    {
        // Bounded: each pass fires only timers already due; new ones scheduled for now fire in this loop too,
        // but a callback that keeps rescheduling itself at `now` would be a bug, caught by the bound.
        int fired = 0;
        while (_queue.TryPeek(out var head, out var priority) && priority.DeadlineMs <= nowMs)
        {
            _queue.Dequeue();
            if (head.IsCancelled) continue;
            Check.That(++fired <= PendingMax, "timers firing without end");
            head.Callback();
        }
    }
}
