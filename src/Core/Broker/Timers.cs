using DetKafka.Core.Util;

namespace DetKafka.Core.Broker;

/// <summary>A scheduled callback; cancelling it leaves it in the queue to be skipped when due (or compacted).</summary>
public sealed class TimerHandle
{
    private readonly Timers _owner;

    internal TimerHandle(Timers owner, long deadlineMs, Action callback)
    {
        _owner = owner;
        DeadlineMs = deadlineMs;
        Callback = callback;
    }

    public long DeadlineMs { get; }
    internal Action Callback { get; }
    public bool IsCancelled { get; private set; }
    internal bool HasFired { get; set; }

    public void Cancel()
    {
        if (IsCancelled || HasFired) return;
        IsCancelled = true;
        _owner.OnCancelled();
    }
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
/// <para>Cancelling is O(1): the entry stays queued and is skipped. Nearly every produce schedules its
/// timeout and cancels it a sync later, so dead entries would pile up for a whole timeout (30 s of requests)
/// under load; once they outnumber the live ones the queue is rebuilt from the live entries, which keeps it
/// within twice the live timers plus a constant, at amortized O(1) per operation and without allocating.</para>
/// </summary>
public sealed class Timers
{
    public const int PendingMax = 1_000_000;

    /// <summary>Below this size dead entries are left to be skipped; compaction would cost more than it saves.</summary>
    private const int CompactionFloor = 1024;

    // Entries are TimerHandles or ITimerTasks: one queue keeps one scheduling order across both.
    private readonly PriorityQueue<object, (long DeadlineMs, long Sequence)> _queue = new();
    private readonly List<(object Entry, (long DeadlineMs, long Sequence) Priority)> _scratch = new();
    private long _sequence = 1;
    private int _live;

    /// <summary>Queue entries, live and cancelled.</summary>
    public int Count => _queue.Count;

    /// <summary>Timers scheduled and neither fired nor cancelled.</summary>
    public int LiveCount => _live;

    public TimerHandle Schedule(long deadlineMs, Action callback)
    {
        var handle = new TimerHandle(this, deadlineMs, callback);
        Enqueue(handle, deadlineMs, _sequence++);
        return handle;
    }

    /// <summary>Schedules <paramref name="task"/>, replacing any schedule it has. Allocates nothing.</summary>
    public void Schedule(long deadlineMs, ITimerTask task)
    {
        Cancel(task);
        long sequence = _sequence++;
        task.TimerStamp = sequence;
        Enqueue(task, deadlineMs, sequence);
    }

    /// <summary>Unschedules <paramref name="task"/> (its queue entry is skipped when it comes up).</summary>
    public void Cancel(ITimerTask task)
    {
        if (task.TimerStamp == 0) return;
        task.TimerStamp = 0;
        OnCancelled();
    }

    internal void OnCancelled()
    {
        _live--;
        Check.That(_live >= 0, "live timers never go negative");
    }

    private void Enqueue(object entry, long deadlineMs, long sequence)
    {
        if (_queue.Count >= CompactionFloor && _queue.Count >= 2 * _live) Compact();
        Check.That(_live < PendingMax, "timer queue bounded");
        _queue.Enqueue(entry, (deadlineMs, sequence));
        _live++;
    }

    /// <summary>Drops every cancelled entry. Order is kept: priorities are unique (deadline, sequence).</summary>
    private void Compact()
    {
        _scratch.Clear();
        while (_queue.TryDequeue(out var entry, out var priority))
            if (IsLive(entry, priority.Sequence)) _scratch.Add((entry, priority));
        foreach (var (entry, priority) in _scratch) _queue.Enqueue(entry, priority);
        _scratch.Clear();
        Check.That(_queue.Count == _live, "after compaction only live timers remain");
    }

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
            _live--;
            if (head is ITimerTask task)
            {
                task.TimerStamp = 0;
                task.RunTimer();
            }
            else
            {
                var handle = (TimerHandle)head;
                handle.HasFired = true;
                handle.Callback();
            }
        }
    }
}
