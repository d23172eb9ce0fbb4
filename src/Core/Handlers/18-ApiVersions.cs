using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>
/// ApiVersions (key 18), versions 0-3. The answer is derived from the registered handlers. A version the
/// broker does not serve is answered, not closed: UNSUPPORTED_VERSION with the supported list in the v0
/// body layout, so librdkafka (which starts at v3) and kafkajs can fall back. The response header is
/// always v0 (see <see cref="RequestHeader.ResponseHeaderVersion"/>).
/// </summary>
public sealed class ApiVersionsHandler(BrokerNode broker, HandlerRegistry registry) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.ApiVersions;
    public override short MinVersion => 0;
    public override short MaxVersion => 3;

    public override void Handle(RequestContext request, ref KafkaReader body)
    {
        ApiVersionsRequest.Read(ref body, request.Version);
        request.Respond(new ApiVersionsResponse { ErrorCode = ErrorCode.None, ApiKeys = registry.Advertised() });
    }

    /// <summary>Answer for a version outside 0-3, whose body we cannot parse.</summary>
    public void RespondUnsupported(RequestContext request)
        => request.Respond(new ApiVersionsResponse { ErrorCode = ErrorCode.UnsupportedVersion, ApiKeys = registry.Advertised() }, 0);
}
