using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>
/// DeleteTopics (key 20), versions 0-6: by name, and from v6 by name or topic id. Proposes a RemoveTopicRecord per
/// topic and answers once they are durable; the logs are deleted when the record commits, and a crash in between
/// is finished at start-up.
/// </summary>
public sealed class DeleteTopicsHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.DeleteTopics;
    public override short MinVersion => 0;
    public override short MaxVersion => 6;

    public override void Handle(RequestContext request, ref KafkaReader body)
    {
        var delete = DeleteTopicsRequest.Read(ref body, request.Version);
        var response = new DeleteTopicsResponse();
        var targets = request.Version >= 6
            ? delete.Topics.Select(t => (t.Name, t.TopicId)).ToList()
            : delete.TopicNames.Select(n => ((string?)n, Guid.Empty)).ToList();
        var proposed = new List<(DeleteTopicsResponse.DeletableTopicResult Result, long Offset)>();
        foreach (var (name, id) in targets)
        {
            var result = new DeleteTopicsResponse.DeletableTopicResult { Name = name, TopicId = id };
            response.Responses.Add(result);
            var topic = name is not null ? Broker.FindControllerTopic(name) : Broker.FindControllerTopic(id);
            if (topic is null || (name is not null && id != Guid.Empty && topic.TopicId != id))
            {
                result.ErrorCode = name is null ? ErrorCode.UnknownTopicId : ErrorCode.UnknownTopicOrPartition;
                result.ErrorMessage = "This server does not host this topic.";
                if (request.Version < 6) result.Name ??= "";
                continue;
            }
            result.Name = topic.Name;
            result.TopicId = topic.TopicId;
            result.ErrorCode = Broker.ProposeDeleteTopic(topic.Name, out long offset);
            if (offset >= 0) proposed.Add((result, offset));
        }
        Broker.AnswerWhenResolved(proposed, r => r.ErrorCode = ErrorCode.KafkaStorageError, () => request.Respond(response));
    }
}
