using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>LeaveGroup (key 13), versions 0-5: one member (v0-2) or a batch answered per member (v3+).</summary>
public sealed class LeaveGroupHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.LeaveGroup;
    public override short MinVersion => 0;
    public override short MaxVersion => 5;

    public override void Handle(RequestContext request, ref KafkaReader body)
    {
        var leave = LeaveGroupRequest.Read(ref body, request.Version);
        // Test-only planted bug: answer every member's leave without removing it (src/Sim/Reach/PlantedBugs.cs).
        if (Broker.Config.TestOnlyIgnoreLeaveGroup)
        {
            request.Respond(new LeaveGroupResponse { Members = leave.Members.Select(m => new LeaveGroupResponse.MemberResponse { MemberId = m.MemberId, GroupInstanceId = m.GroupInstanceId }).ToList() });
            return;
        }
        request.Respond(Broker.Groups.Leave(request.Version, leave));
    }
}
