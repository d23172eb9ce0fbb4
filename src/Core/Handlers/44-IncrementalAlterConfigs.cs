using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Storage;

namespace DetKafka.Core.Handlers;

/// <summary>
/// IncrementalAlterConfigs (key 44), versions 0-1: SET and DELETE on topic configs; APPEND and SUBTRACT
/// on list-valued ones (cleanup.policy). Validated whole before anything changes. Broker resources are
/// refused (no dynamic broker configs).
/// </summary>
public sealed class IncrementalAlterConfigsHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.IncrementalAlterConfigs;
    public override short MinVersion => 0;
    public override short MaxVersion => 1;

    public override void Handle(RequestContext request, ref KafkaReader body)
    {
        var alter = IncrementalAlterConfigsRequest.Read(ref body, request.Version);
        var response = new IncrementalAlterConfigsResponse();
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
            var topic = Broker.FindControllerTopic(resource.ResourceName);
            (r.ErrorCode, r.ErrorMessage) = Broker.ProposeAlterTopicConfig(resource.ResourceName, overrides =>
            {
                foreach (var c in resource.Configs)
                {
                    switch (c.ConfigOperation)
                    {
                        case AlterConfigOpType.Set:
                            if (c.Value is null) return (ErrorCode.InvalidConfig, $"Null value for {c.Name}");
                            overrides[c.Name] = c.Value;
                            break;
                        case AlterConfigOpType.Delete:
                            if (!Broker.Config.TestOnlyIgnoreConfigDeletes) overrides.Remove(c.Name);
                            break;
                        case AlterConfigOpType.Append or AlterConfigOpType.Subtract:
                            if (c.Name != LogConfig.CleanupPolicyName)
                                return (ErrorCode.InvalidConfig, $"{c.ConfigOperation} applies only to list configs; {c.Name} is not one");
                            string current = overrides.TryGetValue(c.Name, out var v) ? v
                                : topic is null ? "" : Broker.EffectiveConfig(topic).ValueOf(c.Name) ?? "";
                            var items = current.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
                            foreach (var item in (c.Value ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                            {
                                if (c.ConfigOperation == AlterConfigOpType.Append) { if (!items.Contains(item)) items.Add(item); }
                                else items.Remove(item);
                            }
                            overrides[c.Name] = string.Join(",", items);
                            break;
                        default:
                            return (ErrorCode.InvalidRequest, $"Unknown operation {(int)c.ConfigOperation}");
                    }
                }
                return (ErrorCode.None, null);
            }, alter.ValidateOnly, out long offset);
            if (offset >= 0) proposed.Add((r, offset));
        }
        Broker.AnswerWhenResolved(proposed, r => (r.ErrorCode, r.ErrorMessage) = (ErrorCode.KafkaStorageError, BrokerNode.MetadataWriteFailed),
            () => request.Respond(response));
    }
}
