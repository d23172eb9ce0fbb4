using System.Buffers;
using System.Collections.Concurrent;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Util;

namespace DetKafka.Host.Runtime;

/// <summary>Sockets owned by the driver thread (see <see cref="BrokerDriver.UseEventLoop"/>).</summary>
internal interface IDriverEventLoop
{
    /// <summary>Any thread: end the current or next <see cref="RunOnce"/> wait.</summary>
    void Wake();

    /// <summary>Driver thread: wait up to <paramref name="timeoutMicros"/> (0: do not wait) for a socket to be ready
    /// or a <see cref="Wake"/>, then accept, read into Core and write what is ready. Returns how many descriptors
    /// were ready (0: the wait timed out).</summary>
    int RunOnce(BrokerNode node, long timeoutMicros);

    /// <summary>Driver thread: write what Core sent since the last flush, as far as the sockets take it.</summary>
    void Flush();
}

internal enum InputKind { Opened, Received, Closed, SyncCompleted, Stop, Invoke }

/// <summary>One input for the node, posted by the socket loops, the sync thread or a signal handler. Received
/// bytes are the first <see cref="Length"/> bytes of <see cref="Bytes"/>, an array rented from
/// <see cref="System.Buffers.ArrayPool{T}.Shared"/> that the driver returns once Core has seen them.</summary>
internal readonly record struct DriverInput(
    InputKind Kind,
    SocketConnection? Connection = null,
    byte[]? Bytes = null,
    long Token = 0,
    DiskStatus Status = DiskStatus.Ok,
    Action<BrokerNode>? Action = null,
    int Length = 0);

/// <summary>
/// The one thread that owns the <see cref="BrokerNode"/>. Everything else (accept loop, socket readers, the
/// sync thread, signal handlers) posts inputs to its queue; it delivers them one at a time and calls
/// <see cref="BrokerNode.Poll"/> once the node's next deadline has passed. Queued inputs are drained before
/// timers so a request is not delayed behind a poll. Core is not thread-safe, so every call into it is
/// checked to come from this thread.
/// </summary>
internal sealed class BrokerDriver
{
    /// <summary>Inputs handled in a row before a due deadline gets its turn, so a flood cannot starve timers.</summary>
    private const int DrainBatchMax = 4096;

    private readonly BlockingCollection<DriverInput> _queue = new(new ConcurrentQueue<DriverInput>());
    // With an event loop (Linux): inputs from other threads wait here and the loop is woken through its eventfd,
    // only when it is about to sleep or asleep (_sleeping), so a busy loop costs posters no system call.
    private readonly ConcurrentQueue<DriverInput> _inputs = new();
    private IDriverEventLoop? _eventLoop;
    private int _sleeping;
    private readonly IClock _clock;
    private readonly Serilog.ILogger _log;
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Thread? _thread;
    private int _threadId = -1;
    private BrokerNode? _node;

    public BrokerDriver(IClock clock, Serilog.ILogger log)
    {
        _clock = clock;
        _log = log;
    }

    /// <summary>Completes when the driver thread has shut the node down and run its teardown; faults if the
    /// node failed (an invariant, a bug in a handler).</summary>
    public Task Completion => _completion.Task;

    public bool IsDriverThread => Environment.CurrentManagedThreadId == Volatile.Read(ref _threadId);

    public void AssertDriverThread() => Check.That(IsDriverThread, "only the driver thread calls into the broker node");

    /// <summary>Thread-safe. Inputs posted after the driver stopped are dropped.</summary>
    public void Post(in DriverInput input)
    {
        if (_completion.Task.IsCompleted) return;
        if (_eventLoop is { } loop)
        {
            _inputs.Enqueue(input);
            // Pairs with the loop's fence between announcing sleep and checking the queue: either it sees this
            // input, or this sees it sleeping and wakes it.
            Interlocked.MemoryBarrier();
            if (Volatile.Read(ref _sleeping) == 1 && Interlocked.Exchange(ref _sleeping, 0) == 1) loop.Wake();
            return;
        }
        _queue.Add(input);
    }

    /// <summary>Run the driver as an event loop: <paramref name="loop"/> owns the sockets and is polled on the driver
    /// thread between inputs (see PERFORMANCE.md, "The host's I/O path"). Call before <see cref="Start"/>.</summary>
    public void UseEventLoop(IDriverEventLoop loop)
    {
        Check.That(_thread is null, "the event loop is chosen before the driver starts");
        _eventLoop = loop;
    }

    /// <summary>Start the thread: construct the node there, run <see cref="BrokerNode.Start"/> (recovery) and
    /// return once it finished, rethrowing its failure.</summary>
    public void Start(Func<BrokerNode> createNode, DrainPolicy drain, Action teardown)
    {
        Check.That(_thread is null, "the driver starts once");
        _thread = new Thread(() => Run(createNode, drain, teardown)) { IsBackground = true, Name = "detkafka-driver" };
        _thread.Start();
        _started.Task.GetAwaiter().GetResult();
    }

    /// <summary>What "nothing left in flight" means while stopping, and how long to wait for it.</summary>
    public sealed record DrainPolicy(Func<bool> HasPendingWork, Action OnStopRequested, TimeSpan Timeout);

    private void Run(Func<BrokerNode> createNode, DrainPolicy drain, Action teardown)
    {
        Volatile.Write(ref _threadId, Environment.CurrentManagedThreadId);
        try
        {
            _node = createNode();
            _node.Start();
        }
        catch (Exception e)
        {
            _started.SetException(e);
            _completion.TrySetException(e);
            RunTeardown(teardown);
            return;
        }
        _started.SetResult();

        Exception? failure = null;
        try
        {
            if (_eventLoop is { } io) EventLoop(_node, drain, io);
            else Loop(_node, drain);
            _node.Shutdown();
        }
        catch (Exception e)
        {
            failure = e;
            _log.Fatal(e, "Broker node failed; stopping");
        }
        RunTeardown(teardown);
        if (failure is null) _completion.TrySetResult();
        else _completion.TrySetException(failure);
    }

    private void RunTeardown(Action teardown)
    {
        try
        {
            teardown();
        }
        catch (Exception e)
        {
            _log.Error(e, "Error while releasing sockets and files");
        }
    }

    private void Loop(BrokerNode node, DrainPolicy drain)
    {
        bool stopping = false;
        long stopDeadline = long.MaxValue;
        void Deliver(in DriverInput input)
        {
            if (!Handle(node, input) || stopping) return;
            stopping = true;
            stopDeadline = _clock.MonotonicMs + (long)drain.Timeout.TotalMilliseconds;
            drain.OnStopRequested();
        }

        while (true)
        {
            int handled = 0;
            while (handled < DrainBatchMax && _queue.TryTake(out var input))
            {
                handled++;
                Deliver(input);
            }

            long now = _clock.MonotonicMs;
            long deadline = node.NextDeadlineMs;
            if (deadline <= now)
            {
                node.Poll();
                continue;
            }
            if (stopping)
            {
                if (now >= stopDeadline)
                {
                    _log.Warning("Stopping with work still in flight after {Timeout}", drain.Timeout);
                    return;
                }
                // Pending work is read first: a finished sync posts its completion before it stops counting.
                if (!drain.HasPendingWork() && _queue.Count == 0) return;
                deadline = Math.Min(deadline, stopDeadline);
            }
            if (handled == DrainBatchMax) continue;

            long waitMs = deadline == long.MaxValue ? Timeout.Infinite : Math.Clamp(deadline - now, 0, int.MaxValue);
            // While stopping, sync completions arrive as inputs, but a reader may still post a last chunk:
            // re-check the drain condition at least every 50 ms.
            if (stopping) waitMs = waitMs == Timeout.Infinite ? 50 : Math.Min(waitMs, 50);
            if (_queue.TryTake(out var next, (int)waitMs)) Deliver(next);
        }
    }

    /// <summary>The loop with sockets on this thread: drain the posted inputs, run due timers, write what Core sent,
    /// then wait in <see cref="IDriverEventLoop.RunOnce"/> for socket readiness, a wake-up or the next deadline, and
    /// handle the ready sockets there (their bytes go to Core without leaving this thread).</summary>
    private void EventLoop(BrokerNode node, DrainPolicy drain, IDriverEventLoop io)
    {
        bool stopping = false;
        long stopDeadline = long.MaxValue;
        void Deliver(in DriverInput input)
        {
            if (!Handle(node, input) || stopping) return;
            stopping = true;
            stopDeadline = _clock.MonotonicMs + (long)drain.Timeout.TotalMilliseconds;
            drain.OnStopRequested();
        }

        while (true)
        {
            int handled = 0;
            while (handled < DrainBatchMax && _inputs.TryDequeue(out var input))
            {
                handled++;
                Deliver(input);
                // What a completion released leaves now, not after the rest of the queue: a client waiting for it
                // sends its next request sooner, and the requests do not arrive in lock-step lumps.
                if (input.Kind == InputKind.SyncCompleted) io.Flush();
            }

            long now = _clock.MonotonicMs;
            long deadline = node.NextDeadlineMs;
            if (deadline <= now)
            {
                node.Poll();
                continue;
            }
            if (stopping)
            {
                if (now >= stopDeadline)
                {
                    _log.Warning("Stopping with work still in flight after {Timeout}", drain.Timeout);
                    return;
                }
                if (!drain.HasPendingWork() && _inputs.IsEmpty) return;
                deadline = Math.Min(deadline, stopDeadline);
            }
            io.Flush();

            // Bounded waits: at most a second, 50 ms while stopping (the drain condition is re-checked).
            long waitMs = handled == DrainBatchMax ? 0 : Math.Clamp(deadline - now, 0, stopping ? 50 : 1000);
            if (waitMs > 0 && SpinBeforeSleepTicks > 0 && SpinForWork(node, io)) continue;
            if (waitMs > 0)
            {
                Volatile.Write(ref _sleeping, 1);
                Interlocked.MemoryBarrier();
                if (!_inputs.IsEmpty) waitMs = 0;
            }
            io.RunOnce(node, waitMs * 1000);
            Volatile.Write(ref _sleeping, 0);
        }
    }

    /// <summary>How long the event loop keeps polling (without blocking, yielding the CPU between polls) before it
    /// sleeps in ppoll. On a machine whose cores are oversubscribed, a thread that sleeps waits for a time slice once
    /// woken, and a request arrives or a sync completes every few microseconds under load: staying runnable for a
    /// short while saves that wait. 0 turns it off. Measured in PERFORMANCE.md, "The host's I/O path".</summary>
    internal long SpinBeforeSleepTicks { get; set; } = System.Diagnostics.Stopwatch.Frequency / 20_000; // 50 us

    /// <summary>Poll for work without sleeping for up to <see cref="SpinBeforeSleepTicks"/>; true once some arrived
    /// (socket events were handled, or inputs wait).</summary>
    private bool SpinForWork(BrokerNode node, IDriverEventLoop io)
    {
        long until = System.Diagnostics.Stopwatch.GetTimestamp() + SpinBeforeSleepTicks;
        do
        {
            if (!_inputs.IsEmpty) return true;
            if (io.RunOnce(node, 0) > 0) return true;
            Thread.Yield();
        }
        while (System.Diagnostics.Stopwatch.GetTimestamp() < until);
        return !_inputs.IsEmpty;
    }

    /// <summary>Deliver one input. Returns true for a stop request.</summary>
    private bool Handle(BrokerNode node, in DriverInput input)
    {
        AssertDriverThread();
        switch (input.Kind)
        {
            case InputKind.Opened:
                node.OnConnectionOpened(input.Connection!.Id);
                return false;
            case InputKind.Received:
                var connection = input.Connection!;
                connection.Delivered(input.Length);
                try
                {
                    // After Core closed a connection no further input for it may arrive, even one already queued.
                    // Core copies what it keeps of the bytes, so the array goes back to the pool afterwards.
                    if (!connection.ClosedByCore) node.OnReceive(connection.Id, input.Bytes.AsSpan(0, input.Length));
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(input.Bytes!);
                }
                return false;
            case InputKind.Closed:
                if (!input.Connection!.ClosedByCore) node.OnConnectionClosed(input.Connection.Id);
                return false;
            case InputKind.SyncCompleted:
                node.OnSyncCompleted(input.Token, input.Status);
                return false;
            case InputKind.Invoke:
                input.Action!(node);
                return false;
            case InputKind.Stop:
                return true;
            default:
                Check.Fail("unknown driver input " + input.Kind);
                return false;
        }
    }
}
