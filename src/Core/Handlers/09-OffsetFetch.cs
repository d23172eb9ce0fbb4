using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>OffsetFetch (key 9), versions 0-9 (v9: a consumer group member's id and epoch, checked): a group's committed offsets (-1 where none). A null topic list
/// (v2+) asks for every partition with a commit; v8 asks for several groups. With ListOffsets this gives lag.</summary>
public sealed class OffsetFetchHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.OffsetFetch;
    public override short MinVersion => 0;
    public override short MaxVersion => 9;

    public override void Handle(RequestContext request, ref KafkaReader body)
    {
        var fetch = OffsetFetchRequest.Read(ref body, request.Version);
        var response = new OffsetFetchResponse();
        if (request.Version >= 8)
        {
            foreach (var g in fetch.Groups)
            {
                var topics = g.Topics?.Select(t => (t.Name, (IReadOnlyList<int>)t.PartitionIndexes)).ToList();
                var (error, found) = Broker.Groups.FetchOffsets(g.GroupId, topics);
                if (error == ErrorCode.None && Broker.Groups.ValidateConsumerOffsetFetch(g.GroupId, g.MemberId, g.MemberEpoch) is var memberError && memberError != ErrorCode.None)
                {
                    error = memberError;
                    found.Clear();
                }
                var group = new OffsetFetchResponse.OffsetFetchResponseGroup { GroupId = g.GroupId, ErrorCode = error };
                foreach (var (name, partitions) in found)
                {
                    var topic = new OffsetFetchResponse.OffsetFetchResponseTopics { Name = name };
                    foreach (var (p, o) in partitions)
                        topic.Partitions.Add(new OffsetFetchResponse.OffsetFetchResponsePartitions
                        {
                            PartitionIndex = p,
                            CommittedOffset = o?.Offset ?? -1,
                            CommittedLeaderEpoch = o?.LeaderEpoch ?? -1,
                            Metadata = o?.Metadata ?? "",
                            // KIP-447: require_stable waits out transactional offsets not yet decided.
                            ErrorCode = fetch.RequireStable && Broker.Groups.HasPendingTransactionalOffset(g.GroupId, new(name, p))
                                ? ErrorCode.UnstableOffsetCommit : ErrorCode.None,
                        });
                    group.Topics.Add(topic);
                }
                response.Groups.Add(group);
            }
            request.Respond(response);
            return;
        }
        var asked = fetch.Topics?.Select(t => (t.Name, (IReadOnlyList<int>)t.PartitionIndexes)).ToList();
        var (err, result) = Broker.Groups.FetchOffsets(fetch.GroupId, asked);
        if (err != ErrorCode.None && request.Version < 2 && asked is not null)
        {
            // v0-1 have no top-level error: every asked partition carries it.
            result = asked.Select(t => (t.Name, t.Item2.Select(p => (p, (Groups.OffsetAndMetadata?)null)).ToList())).ToList();
        }
        response.ErrorCode = err;
        foreach (var (name, partitions) in result)
        {
            var topic = new OffsetFetchResponse.OffsetFetchResponseTopic { Name = name };
            foreach (var (p, o) in partitions)
                topic.Partitions.Add(new OffsetFetchResponse.OffsetFetchResponsePartition
                {
                    PartitionIndex = p,
                    CommittedOffset = o?.Offset ?? -1,
                    CommittedLeaderEpoch = o?.LeaderEpoch ?? -1,
                    Metadata = o?.Metadata ?? "",
                    ErrorCode = request.Version < 2 ? err
                        : request.Version >= 7 && fetch.RequireStable && Broker.Groups.HasPendingTransactionalOffset(fetch.GroupId, new(name, p))
                            ? ErrorCode.UnstableOffsetCommit : ErrorCode.None,
                });
            response.Topics.Add(topic);
        }
        request.Respond(response);
    }
}
