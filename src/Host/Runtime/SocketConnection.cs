using System.Buffers;
using System.Net.Sockets;
using System.Threading.Channels;
using DetKafka.Core.Abstractions;

namespace DetKafka.Host.Runtime;

/// <summary>
/// One accepted client: a read loop that posts copies of what it reads to the driver (pausing while Core has
/// disabled receive, while reads are stopped for shutdown, or while too many of its bytes wait in the driver
/// queue) and a write loop that drains the send queue. Either loop ending aborts the other; the driver then
/// hears <see cref="InputKind.Closed"/> once, unless Core closed the connection itself or the host is
/// shutting down.
/// </summary>
internal sealed class SocketConnection
{
    private readonly Socket _socket;
    private readonly SocketNetwork _network;
    private readonly SocketNetworkLimits _limits;
    // Responses waiting to be written, each in an array rented from ArrayPool.Shared and returned once written.
    private readonly Channel<ArraySegment<byte>> _sendQueue =
        Channel.CreateUnbounded<ArraySegment<byte>>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly CancellationTokenSource _abort = new();
    private readonly Lock _gate = new();
    private TaskCompletionSource? _gateWaiter;
    private bool _receiveEnabled = true;
    private bool _readsStopped;
    private long _undeliveredBytes;
    private long _queuedBytes;
    private int _closeNotified;
    private Task _reader = Task.CompletedTask;
    private Task _writer = Task.CompletedTask;

    public SocketConnection(ConnectionId id, Socket socket, SocketNetwork network)
    {
        Id = id;
        _socket = socket;
        _network = network;
        _limits = network.Limits;
        // Disposing the socket is what interrupts a pending receive or send on every platform.
        _abort.Token.Register(() => _socket.Dispose());
    }

    public ConnectionId Id { get; }

    /// <summary>Core called Close: nothing more about this connection may reach it. Driver thread only.</summary>
    public bool ClosedByCore { get; set; }

    public long QueuedBytes => Volatile.Read(ref _queuedBytes);

    /// <summary>Completes once the write loop is done (flushed, failed or aborted).</summary>
    public Task Finished => _writer;

    public void Start()
    {
        _reader = Task.Run(ReadLoop);
        _writer = Task.Run(WriteLoop);
        Task.WhenAll(_reader, _writer).ContinueWith(_ => _network.Forget(this), TaskScheduler.Default);
    }

    // ---- reading -------------------------------------------------------------------------------------

    private bool CanRead => _receiveEnabled && !_readsStopped && Volatile.Read(ref _undeliveredBytes) < _limits.UndeliveredBytesMax;

    public void SetReceiveEnabled(bool enabled)
    {
        lock (_gate) _receiveEnabled = enabled;
        ReevaluateGate();
    }

    public void StopReading()
    {
        lock (_gate) _readsStopped = true;
    }

    /// <summary>The driver handed <paramref name="bytes"/> of this connection to Core (or dropped them).</summary>
    public void Delivered(int bytes)
    {
        Interlocked.Add(ref _undeliveredBytes, -bytes);
        ReevaluateGate();
    }

    private void ReevaluateGate()
    {
        TaskCompletionSource? open = null;
        lock (_gate)
        {
            if (_gateWaiter is not null && CanRead)
            {
                open = _gateWaiter;
                _gateWaiter = null;
            }
        }
        open?.TrySetResult();
    }

    private async Task WaitReadableAsync(CancellationToken token)
    {
        while (true)
        {
            Task wait;
            lock (_gate)
            {
                if (CanRead) return;
                _gateWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                wait = _gateWaiter.Task;
            }
            await wait.WaitAsync(token).ConfigureAwait(false);
        }
    }

    private async Task ReadLoop()
    {
        var buffer = new byte[_limits.ReadBufferBytes];
        var token = _abort.Token;
        try
        {
            while (true)
            {
                await WaitReadableAsync(token).ConfigureAwait(false);
                int n = await _socket.ReceiveAsync(buffer, SocketFlags.None, token).ConfigureAwait(false);
                if (n == 0) break; // the peer closed its side
                Interlocked.Add(ref _undeliveredBytes, n);
                // A pooled copy: the driver returns it to the pool once Core has seen it.
                var copy = ArrayPool<byte>.Shared.Rent(n);
                buffer.AsSpan(0, n).CopyTo(copy);
                _network.Post(new DriverInput(InputKind.Received, this, copy, Length: n));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // reset by the peer, or aborted by us
        }
        finally
        {
            Abort();
            NotifyClosed();
        }
    }

    // ---- writing -------------------------------------------------------------------------------------

    /// <summary>Queue a copy of <paramref name="bytes"/>. False when the queue would pass its bound.</summary>
    public bool TryEnqueue(ReadOnlySpan<byte> bytes)
    {
        if (Volatile.Read(ref _queuedBytes) + bytes.Length > _limits.SendQueueBytesMax) return false;
        Interlocked.Add(ref _queuedBytes, bytes.Length);
        var copy = ArrayPool<byte>.Shared.Rent(bytes.Length);
        bytes.CopyTo(copy);
        if (!_sendQueue.Writer.TryWrite(new ArraySegment<byte>(copy, 0, bytes.Length)))
        {
            Interlocked.Add(ref _queuedBytes, -bytes.Length); // closing
            ArrayPool<byte>.Shared.Return(copy);
        }
        return true;
    }

    private async Task WriteLoop()
    {
        var token = _abort.Token;
        var batch = new List<ArraySegment<byte>>();
        try
        {
            while (await _sendQueue.Reader.WaitToReadAsync(token).ConfigureAwait(false))
            {
                batch.Clear();
                long total = 0;
                while (total < _limits.SendBatchBytesMax && _sendQueue.Reader.TryRead(out var bytes))
                {
                    batch.Add(bytes);
                    total += bytes.Count;
                }
                await SendAllAsync(batch, total).ConfigureAwait(false);
                Interlocked.Add(ref _queuedBytes, -total);
                foreach (var sent in batch) ArrayPool<byte>.Shared.Return(sent.Array!);
                batch.Clear();
            }
            // Queue completed and drained: everything Core sent before Close has left.
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // reset by the peer, or aborted by us
        }
        finally
        {
            Abort();
            // Whatever was not written goes back to the pool (a failed send's batch, responses never taken).
            foreach (var unsent in batch) ArrayPool<byte>.Shared.Return(unsent.Array!);
            batch.Clear();
            while (_sendQueue.Reader.TryRead(out var queued)) ArrayPool<byte>.Shared.Return(queued.Array!);
        }
    }

    private async Task SendAllAsync(List<ArraySegment<byte>> batch, long total)
    {
        long sent = await _socket.SendAsync(batch, SocketFlags.None).ConfigureAwait(false);
        while (sent < total)
        {
            // A partial send: drop what went out and send the rest.
            long skip = sent;
            var rest = new List<ArraySegment<byte>>();
            foreach (var segment in batch)
            {
                if (skip >= segment.Count)
                {
                    skip -= segment.Count;
                    continue;
                }
                rest.Add(segment.Slice((int)skip));
                skip = 0;
            }
            batch = rest;
            int n = await _socket.SendAsync(batch, SocketFlags.None).ConfigureAwait(false);
            if (n <= 0) throw new SocketException((int)SocketError.ConnectionReset);
            sent += n;
        }
    }

    // ---- closing -------------------------------------------------------------------------------------

    /// <summary>Stop reading, send what is queued, then close; give up after <paramref name="timeout"/>.</summary>
    public void CloseAfterFlush(TimeSpan timeout, bool notify)
    {
        if (!notify) Interlocked.Exchange(ref _closeNotified, 1);
        StopReading();
        _sendQueue.Writer.TryComplete();
        try
        {
            _abort.CancelAfter(timeout);
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Drop the connection now: both loops end, queued responses are discarded.</summary>
    public void Abort()
    {
        _sendQueue.Writer.TryComplete();
        try
        {
            _abort.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
        catch (AggregateException)
        {
            // a registration (socket dispose) threw; the socket is unusable either way
        }
    }

    private void NotifyClosed()
    {
        if (Interlocked.Exchange(ref _closeNotified, 1) == 0)
            _network.Post(new DriverInput(InputKind.Closed, this));
    }
}
