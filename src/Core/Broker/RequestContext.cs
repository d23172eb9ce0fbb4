using System.Buffers;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Util;

namespace DetKafka.Core.Broker;

/// <summary>
/// One request's place in its connection's response queue. A handler completes it at once or later
/// (produce waiting for a sync, fetch waiting for bytes); the connection sends completed responses strictly
/// in request order, which Kafka clients require. A handler must not keep slices of the request buffer
/// after <c>Handle</c> returns: the connection reuses that buffer. A response is encoded when the handler
/// answers; at the head of the queue it goes straight from the broker's response writer to the network,
/// otherwise a pooled copy waits for the requests before it, so answering allocates no array per response.
/// <para>Contexts are pooled: once its response has been sent, a context serves a later request (its
/// <see cref="Generation"/> then changes). So nothing may use a context after answering it; whatever keeps
/// one across inputs (a request waiting in a purgatory) should check the generation it saw.</para>
/// </summary>
public sealed class RequestContext
{
    private BrokerConnection _connection;

    internal RequestContext(BrokerConnection connection, RequestHeader header)
    {
        _connection = connection;
        Header = header;
    }

    /// <summary>Changes every time the pool hands this context to another request.</summary>
    public int Generation { get; private set; }

    public RequestHeader Header { get; private set; }
    public short Version => Header.ApiVersion;
    public ConnectionId Connection => _connection.Id;
    public bool IsConnectionOpen => !_connection.IsClosed;

    internal bool IsCompleted { get; private set; }

    /// <summary>What <see cref="IBrokerObserver.RequestStarted"/> returned for this request.</summary>
    internal long ObserverToken { get; set; }

    /// <summary>A response encoded while an earlier request of the connection was still unanswered: a pooled
    /// copy held until it reaches the head of the queue (<see cref="HeldResponseLength"/> bytes).</summary>
    internal byte[]? HeldResponse { get; private set; }
    internal int HeldResponseLength { get; private set; }

    /// <summary>Encode and queue the response at the request's version.</summary>
    public void Respond(IKafkaMessage body) => Respond(body, Version);

    /// <summary>Encode the body at an explicit version: ApiVersions answers an unsupported version in the v0 layout.</summary>
    public void Respond(IKafkaMessage body, short bodyVersion)
    {
        Check.That(!IsCompleted, "a request is answered once");
        _connection.Owner.Observer.RequestCompleted(Header, _connection.Id, ObserverToken, body);
        var encoded = _connection.Owner.EncodeResponse(Header, body, bodyVersion);
        IsCompleted = true;
        _connection.OnRequestCompleted(this, encoded.WrittenSpan, hasResponse: true);
    }

    /// <summary>Complete without sending anything: a Produce with acks=0 gets no response.</summary>
    public void CompleteWithoutResponse()
    {
        Check.That(!IsCompleted, "a request is answered once");
        _connection.Owner.Observer.RequestCompleted(Header, _connection.Id, ObserverToken, null);
        IsCompleted = true;
        _connection.OnRequestCompleted(this, default, hasResponse: false);
    }

    internal void HoldResponse(ReadOnlySpan<byte> response)
    {
        Check.That(HeldResponse is null);
        var copy = _connection.Owner.Buffers.Rent(Math.Max(1, response.Length));
        response.CopyTo(copy);
        HeldResponse = copy;
        HeldResponseLength = response.Length;
    }

    /// <summary>Serve another request: only once this one's response has been sent.</summary>
    internal void Reuse(BrokerConnection connection, RequestHeader header)
    {
        Check.That(IsCompleted && HeldResponse is null, "a context is reused only after its response went out");
        Generation++;
        _connection = connection;
        Header = header;
        IsCompleted = false;
    }

    internal void ReleaseHeldResponse()
    {
        if (HeldResponse is { } held) _connection.Owner.Buffers.Return(held);
        HeldResponse = null;
        HeldResponseLength = 0;
    }
}
