using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Util;

namespace DetKafka.Core.Broker;

/// <summary>
/// One request's place in its connection's response queue. A handler completes it at once or later
/// (produce waiting for a sync, fetch waiting for bytes); the connection sends completed responses strictly
/// in request order, which Kafka clients require. A handler must not keep slices of the request buffer
/// after <c>Handle</c> returns: the connection reuses that buffer.
/// </summary>
public sealed class RequestContext
{
    private readonly BrokerConnection _connection;

    internal RequestContext(BrokerConnection connection, RequestHeader header)
    {
        _connection = connection;
        Header = header;
    }

    public RequestHeader Header { get; }
    public short Version => Header.ApiVersion;
    public ConnectionId Connection => _connection.Id;
    public bool IsConnectionOpen => !_connection.IsClosed;

    internal bool IsCompleted { get; private set; }
    internal byte[]? EncodedResponse { get; private set; }

    /// <summary>Encode and queue the response at the request's version.</summary>
    public void Respond(IKafkaMessage body) => Respond(body, Version);

    /// <summary>Encode the body at an explicit version: ApiVersions answers an unsupported version in the v0 layout.</summary>
    public void Respond(IKafkaMessage body, short bodyVersion)
    {
        Check.That(!IsCompleted, "a request is answered once");
        EncodedResponse = _connection.Owner.EncodeResponse(Header, body, bodyVersion);
        IsCompleted = true;
        _connection.OnRequestCompleted();
    }

    /// <summary>Complete without sending anything: a Produce with acks=0 gets no response.</summary>
    public void CompleteWithoutResponse()
    {
        Check.That(!IsCompleted, "a request is answered once");
        IsCompleted = true;
        _connection.OnRequestCompleted();
    }
}
