using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>JoinGroup (key 11), versions 0-9: answered when the rebalance's join phase completes (or at once
/// with an error, or MEMBER_ID_REQUIRED on a first join from v4). Classic protocol, client-side assignment.</summary>
public sealed class JoinGroupHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.JoinGroup;
    public override short MinVersion => 0;
    public override short MaxVersion => 9;

    public override void Handle(RequestContext request, ref KafkaReader body)
        => Broker.Groups.Join(request, JoinGroupRequest.Read(ref body, request.Version));
}
