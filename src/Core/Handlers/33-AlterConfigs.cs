using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>
/// AlterConfigs (key 33), versions 0-2: replaces a topic's config overrides with the given set (a key
/// left out returns to its default), validated whole first. Broker resources are refused: DetKafka has no
/// dynamic broker configs.
/// </summary>
public sealed class AlterConfigsHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.AlterConfigs;
    public override short MinVersion => 0;
    public override short MaxVersion => 2;

    public override void Handle(RequestContext request, ref KafkaReader body)
    {
        var alter = AlterConfigsRequest.Read(ref body, request.Version);
        var response = new AlterConfigsResponse();
        var proposed = new List<(AlterConfigsResponse.AlterConfigsResourceResponse Result, long Offset)>();
        foreach (var resource in alter.Resources)
        {
            var r = new AlterConfigsResponse.AlterConfigsResourceResponse { ResourceType = resource.ResourceType, ResourceName = resource.ResourceName };
            response.Responses.Add(r);
            if (resource.ResourceType != ConfigResourceType.Topic)
            {
                (r.ErrorCode, r.ErrorMessage) = (ErrorCode.InvalidRequest, $"Altering {resource.ResourceType} configs is not supported.");
                continue;
            }
            (r.ErrorCode, r.ErrorMessage) = Broker.ProposeAlterTopicConfig(resource.ResourceName, overrides =>
            {
                overrides.Clear();
                foreach (var c in resource.Configs)
                {
                    if (c.Value is null) return (ErrorCode.InvalidConfig, $"Null value for {c.Name}");
                    overrides[c.Name] = c.Value;
                }
                return (ErrorCode.None, null);
            }, alter.ValidateOnly, out long offset);
            if (offset >= 0) proposed.Add((r, offset));
        }
        Broker.AnswerWhenResolved(proposed, r => (r.ErrorCode, r.ErrorMessage) = (ErrorCode.KafkaStorageError, BrokerNode.MetadataWriteFailed),
            () => request.Respond(response));
    }
}
