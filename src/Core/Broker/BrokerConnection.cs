using System.Buffers;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Util;

namespace DetKafka.Core.Broker;

/// <summary>
/// A client connection as Core sees it: an inbound byte buffer that the shared framer cuts into requests,
/// and the queue of requests awaiting their responses, answered in order. Bounded: at most
/// <see cref="BrokerConfig.MaxInFlightRequestsPerConnection"/> requests waiting and one frame of at most
/// <see cref="BrokerConfig.SocketRequestMaxBytes"/> buffered; past either, reading stops. A frame larger
/// than the connection's own buffer is gathered in a pooled one, given back once it has been handled, so
/// large produces allocate nothing either.
/// </summary>
internal sealed class BrokerConnection
{
    private const int InitialBufferBytes = 64 * 1024;

    private readonly Queue<RequestContext> _inFlight = new();
    // Rented from the node's pool when the connection opens and given back when it closes: connections come and
    // go (clients reconnect after every reset), and 64 KiB each was most of what a busy simulated run allocated.
    private byte[] _ownBuffer;
    private byte[] _buffer;
    private int _buffered;
    private bool _processing;
    private bool _receiveEnabled = true;

    /// <summary>On the node's resume list: its next requests run at the end of the input step.</summary>
    internal bool ResumeScheduled { get; set; }

    public BrokerConnection(BrokerNode owner, ConnectionId id)
    {
        Owner = owner;
        Id = id;
        _ownBuffer = owner.Buffers.Rent(InitialBufferBytes);
        _buffer = _ownBuffer;
    }

    public BrokerNode Owner { get; }
    public ConnectionId Id { get; }
    public bool IsClosed { get; private set; }
    public int InFlightCount => _inFlight.Count;
    public int BufferedBytes => _buffered;

    public void Receive(ReadOnlySpan<byte> data)
    {
        if (IsClosed) return;
        int maxFrame = Owner.Config.SocketRequestMaxBytes;
        // The driver may deliver a little past a pause (one read in flight); the bound below still holds
        // because a frame larger than the max closes the connection before it is buffered whole.
        long needed = (long)_buffered + data.Length;
        long cap = (long)maxFrame + Frame.SizePrefixBytes + InitialBufferBytes;
        if (needed > cap)
        {
            Owner.CloseConnection(this, "inbound buffer over its bound ({Bytes} bytes)", needed);
            return;
        }
        if (needed > _buffer.Length)
        {
            var next = Owner.Buffers.Rent((int)Math.Min(cap, Math.Max(needed, (long)_buffer.Length * 2)));
            Buffer.BlockCopy(_buffer, 0, next, 0, _buffered);
            ReturnPooledBuffer();
            _buffer = next;
        }
        data.CopyTo(_buffer.AsSpan(_buffered));
        _buffered += data.Length;
        ProcessFrames();
    }

    /// <summary>Cut complete frames off the buffer and dispatch them while the in-flight bound allows. Never
    /// nested: an answer does not run the connection's next requests, the node resumes them at the end of the
    /// input step (<see cref="OnRequestCompleted"/>).</summary>
    internal void ProcessFrames()
    {
        if (IsClosed) return;
        Check.That(!_processing, "frames are cut by one loop at a time");
        _processing = true;
        try
        {
            int consumed = 0;
            while (!IsClosed && _inFlight.Count < Owner.Config.MaxInFlightRequestsPerConnection)
            {
                var status = Frame.TryReadFrame(_buffer.AsSpan(consumed, _buffered - consumed),
                    Owner.Config.SocketRequestMaxBytes, out int payloadLength);
                if (status == FrameStatus.NeedMoreData) break;
                if (status == FrameStatus.Invalid)
                {
                    Owner.CloseConnection(this, "frame size {Size} is negative or above socket.request.max.bytes", payloadLength);
                    return;
                }
                int payloadStart = consumed + Frame.SizePrefixBytes;
                consumed = payloadStart + payloadLength;
                Owner.Dispatch(this, new ArraySegment<byte>(_buffer, payloadStart, payloadLength));
            }
            if (IsClosed) return;
            if (consumed > 0)
            {
                Buffer.BlockCopy(_buffer, consumed, _buffer, 0, _buffered - consumed);
                _buffered -= consumed;
                if (_buffered == 0) ReturnPooledBuffer();
            }
            UpdateBackpressure();
        }
        finally
        {
            _processing = false;
            if (IsClosed) ReturnBuffers();
        }
    }

    public RequestContext BeginRequest(RequestHeader header)
    {
        Check.That(!IsClosed);
        var context = Owner.RentRequestContext(this, header);
        context.ObserverToken = Owner.Observer.RequestStarted(header, Id);
        _inFlight.Enqueue(context);
        return context;
    }

    /// <summary>
    /// <paramref name="request"/> was answered with <paramref name="response"/> (the broker's response writer,
    /// valid only during this call). At the head of the queue it is sent at once, with every completed
    /// response behind it; otherwise it is held, as a pooled copy, until the requests before it are answered.
    /// </summary>
    public void OnRequestCompleted(RequestContext request, ReadOnlySpan<byte> response, bool hasResponse)
    {
        if (IsClosed) return;
        Check.That(_inFlight.Count > 0, "an answered request of an open connection is in its queue");
        if (ReferenceEquals(_inFlight.Peek(), request))
        {
            _inFlight.Dequeue();
            if (hasResponse) Owner.Network.Send(Id, response);
            Owner.ReturnRequestContext(request);
        }
        else if (hasResponse)
        {
            request.HoldResponse(response);
        }
        while (_inFlight.Count > 0 && _inFlight.Peek().IsCompleted)
        {
            var done = _inFlight.Dequeue();
            if (done.HeldResponse is { } held) Owner.Network.Send(Id, held.AsSpan(0, done.HeldResponseLength));
            done.ReleaseHeldResponse();
            Owner.ReturnRequestContext(done);
        }
        // Requests already buffered run at the end of the input step, never inside this answer (which may come
        // from a handler, a retry of the purgatory or a timer). The loop cutting this connection's frames, if it
        // is the caller, goes on by itself.
        if (_buffered > 0 && !_processing) Owner.ScheduleResume(this);
        else UpdateBackpressure();
    }

    private void UpdateBackpressure()
    {
        bool want = _inFlight.Count < Owner.Config.MaxInFlightRequestsPerConnection;
        if (want == _receiveEnabled) return;
        _receiveEnabled = want;
        Owner.Network.SetReceiveEnabled(Id, want);
    }

    /// <summary>Back to the connection's own buffer, giving a pooled one back (its contents are no longer needed).</summary>
    private void ReturnPooledBuffer()
    {
        if (ReferenceEquals(_buffer, _ownBuffer)) return;
        Owner.Buffers.Return(_buffer);
        _buffer = _ownBuffer;
    }

    public void MarkClosed()
    {
        IsClosed = true;
        foreach (var request in _inFlight) request.ReleaseHeldResponse();
        _inFlight.Clear();
        _buffered = 0;
        // A handler may be closing its own connection while it still reads its request from the buffer:
        // then the frame loop gives the buffer back when it unwinds.
        if (!_processing) ReturnBuffers();
    }

    /// <summary>Closed: both buffers go back to the node's pool (nothing reads them once the frame loop is out).</summary>
    private void ReturnBuffers()
    {
        ReturnPooledBuffer();
        if (_ownBuffer.Length == 0) return;
        Owner.Buffers.Return(_ownBuffer);
        _ownBuffer = [];
        _buffer = _ownBuffer;
    }
}
