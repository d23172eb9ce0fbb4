using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>ConsumerGroupHeartbeat (key 68), versions 0-1: KIP-848's one request for joining, heartbeating,
/// acknowledging revocations and leaving a consumer group; the coordinator assigns (GroupCoordinator.Consumer.cs).
/// Answered once any change it made is durable in __consumer_offsets. librdkafka 2.16 sends v1.</summary>
public sealed class ConsumerGroupHeartbeatHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.ConsumerGroupHeartbeat;
    public override short MinVersion => 0;
    public override short MaxVersion => 1;

    public override void Handle(RequestContext request, ref KafkaReader body)
        => Broker.Groups.ConsumerGroupHeartbeat(request, ConsumerGroupHeartbeatRequest.Read(ref body, request.Version));
}
