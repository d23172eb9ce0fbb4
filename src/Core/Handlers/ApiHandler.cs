using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;

namespace DetKafka.Core.Handlers;

/// <summary>
/// One Kafka API as this broker serves it. Each subclass lives in its own file, named by key number, and
/// declares the version range it serves right next to its code; ApiVersions is derived from these
/// declarations (<see cref="HandlerRegistry"/>). The connection has already checked the version is in range.
/// </summary>
public abstract class ApiHandler
{
    protected ApiHandler(BrokerNode broker) => Broker = broker;

    protected BrokerNode Broker { get; }

    public abstract ApiKey Key { get; }
    public abstract short MinVersion { get; }
    public abstract short MaxVersion { get; }

    /// <summary>Decode the body and answer through <paramref name="request"/>, now or later. A
    /// <see cref="ProtocolException"/> thrown from here closes the connection.</summary>
    public abstract void Handle(RequestContext request, ref KafkaReader body);
}
