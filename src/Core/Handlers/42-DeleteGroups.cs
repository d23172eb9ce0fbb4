using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>DeleteGroups (key 42), versions 0-2: empty groups only (NON_EMPTY_GROUP otherwise, GROUP_ID_NOT_FOUND
/// when unknown); answered once the tombstones are durable.</summary>
public sealed class DeleteGroupsHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.DeleteGroups;
    public override short MinVersion => 0;
    public override short MaxVersion => 2;

    public override void Handle(RequestContext request, ref KafkaReader body)
        => Broker.Groups.DeleteGroups(request, DeleteGroupsRequest.Read(ref body, request.Version));
}
