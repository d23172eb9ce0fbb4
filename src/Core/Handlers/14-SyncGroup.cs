using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>SyncGroup (key 14), versions 0-5: members wait until the leader's assignment is durable, then each
/// gets its own.</summary>
public sealed class SyncGroupHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.SyncGroup;
    public override short MinVersion => 0;
    public override short MaxVersion => 5;

    public override void Handle(RequestContext request, ref KafkaReader body)
        => Broker.Groups.Sync(request, SyncGroupRequest.Read(ref body, request.Version));
}
