using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>Heartbeat (key 12), versions 0-4: renews the member's session; REBALANCE_IN_PROGRESS tells it to rejoin.</summary>
public sealed class HeartbeatHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.Heartbeat;
    public override short MinVersion => 0;
    public override short MaxVersion => 4;

    public override void Handle(RequestContext request, ref KafkaReader body)
    {
        var heartbeat = HeartbeatRequest.Read(ref body, request.Version);
        request.Respond(new HeartbeatResponse { ErrorCode = Broker.Groups.Heartbeat(heartbeat) });
    }
}
