using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>ListGroups (key 16), versions 0-5: every group this node coordinates, by id; v4 filters by state, v5 by
/// type (classic or consumer, KIP-848).</summary>
public sealed class ListGroupsHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.ListGroups;
    public override short MinVersion => 0;
    public override short MaxVersion => 5;

    public override void Handle(RequestContext request, ref KafkaReader body)
    {
        var list = ListGroupsRequest.Read(ref body, request.Version);
        var response = new ListGroupsResponse();
        foreach (var g in Broker.Groups.ListGroups(request.Version >= 4 ? list.StatesFilter : null, request.Version >= 5 ? list.TypesFilter : null))
            response.Groups.Add(new ListGroupsResponse.ListedGroup { GroupId = g.Id, ProtocolType = g.ProtocolType ?? "", GroupState = g.StateName, GroupType = g.TypeName });
        request.Respond(response);
    }
}
