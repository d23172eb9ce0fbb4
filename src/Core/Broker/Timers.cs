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
/// Something the timer queue runs at its deadline without a closure or a handle (Kafka's TimerTask): what
/// the purgatory schedules once per waiting request. <see cref="Timers"/> stamps it when scheduled and clears
/// the stamp when it runs or is cancelled; a queue entry whose stamp no longer matches is skipped, so the
/// owner may reuse the object at once.
/// </summary>
public interface ITimerTask
{
    /// <summary>Owned by <see cref="Timers"/>: the live schedule's stamp, 0 when none.</summary>
    long TimerStamp { get; set; }

    void RunTimer();
}

/// <summary>
/// Deadlines on the monotonic clock. Core owns no timer: the driver calls <see cref="BrokerNode.Poll"/> once
/// the clock passes <see cref="NextDeadlineMs"/>. Ties fire in scheduling order (a sequence number breaks
/// them) so runs are deterministic.
/// </summary>
public sealed class Timers
{
    public const int PendingMax = 1_000_000;

    // Entries are TimerHandles or ITimerTasks: one queue keeps one scheduling order across both.
    private readonly PriorityQueue<object, (long DeadlineMs, long Sequence)> _queue = new();
    private long _sequence = 1;

    public int Count => _queue.Count;

    public TimerHandle Schedule(long deadlineMs, Action callback)
    {
        Check.That(_queue.Count < PendingMax, "timer queue bounded");
        var handle = new TimerHandle(deadlineMs, callback);
        _queue.Enqueue(handle, (deadlineMs, _sequence++));
        return handle;
    }

    /// <summary>Schedules <paramref name="task"/>, replacing any schedule it has. Allocates nothing.</summary>
    public void Schedule(long deadlineMs, ITimerTask task)
    {
        Check.That(_queue.Count < PendingMax, "timer queue bounded");
        long sequence = _sequence++;
        task.TimerStamp = sequence;
        _queue.Enqueue(task, (deadlineMs, sequence));
    }

    /// <summary>Unschedules <paramref name="task"/> (its queue entry is skipped when it comes up).</summary>
    public static void Cancel(ITimerTask task) => task.TimerStamp = 0;

    private static bool IsLive(object entry, long sequence) => entry switch
    {
        TimerHandle handle => !handle.IsCancelled,
        ITimerTask task => task.TimerStamp == sequence,
        _ => false,
    };

    public long NextDeadlineMs
    {
        get
        {
            while (_queue.TryPeek(out var head, out var priority) && !IsLive(head, priority.Sequence)) _queue.Dequeue();
            return _queue.TryPeek(out _, out var next) ? next.DeadlineMs : long.MaxValue;
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
            if (!IsLive(head, priority.Sequence)) continue;
            Check.That(++fired <= PendingMax, "timers firing without end");
            if (head is ITimerTask task)
            {
                task.TimerStamp = 0;
                task.RunTimer();
            }
            else ((TimerHandle)head).Callback();
        }
    }
}
