using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>OffsetDelete (key 47), version 0: drops a group's offsets for partitions of topics its members do
/// not subscribe to (GROUP_SUBSCRIBED_TO_TOPIC otherwise).</summary>
public sealed class OffsetDeleteHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.OffsetDelete;
    public override short MinVersion => 0;
    public override short MaxVersion => 0;

    public override void Handle(RequestContext request, ref KafkaReader body)
        => Broker.Groups.DeleteOffsets(request, OffsetDeleteRequest.Read(ref body, request.Version));
}
