using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>
/// CreatePartitions (key 37), versions 0-3: grows a topic to the requested count (never shrinks).
/// Assignments, when given, may name only this node.
/// </summary>
public sealed class CreatePartitionsHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.CreatePartitions;
    public override short MinVersion => 0;
    public override short MaxVersion => 3;

    public override void Handle(RequestContext request, ref KafkaReader body)
    {
        var create = CreatePartitionsRequest.Read(ref body, request.Version);
        var response = new CreatePartitionsResponse();
        var proposed = new List<(CreatePartitionsResponse.CreatePartitionsTopicResult Result, long Offset)>();
        foreach (var t in create.Topics)
        {
            var r = new CreatePartitionsResponse.CreatePartitionsTopicResult { Name = t.Name };
            response.Results.Add(r);
            if (t.Assignments is { } assignments
                && assignments.Any(a => a.BrokerIds.Count != 1 || a.BrokerIds[0] != Broker.Config.NodeId))
            {
                (r.ErrorCode, r.ErrorMessage) = (ErrorCode.InvalidReplicaAssignment, $"Assignments may name only broker {Broker.Config.NodeId}.");
                continue;
            }
            (r.ErrorCode, r.ErrorMessage) = Broker.ProposeCreatePartitions(t.Name, t.Count, create.ValidateOnly, out long offset);
            if (offset >= 0) proposed.Add((r, offset));
        }
        Broker.AnswerWhenResolved(proposed, r => (r.ErrorCode, r.ErrorMessage) = (ErrorCode.KafkaStorageError, BrokerNode.MetadataWriteFailed),
            () => request.Respond(response));
    }
}
