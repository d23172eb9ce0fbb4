using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>Vote (key 52), versions 0-2: a KRaft message between voters (REPLICATION.md), for one Raft-managed topic
/// partition. Handed to that log's endpoint, which answers when its replica does (after any quorum-state write the
/// answer depends on is synced). A request naming no log this node runs, or more than one partition, gets an error.</summary>
public sealed class VoteHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.Vote;
    public override short MinVersion => 0;
    public override short MaxVersion => 2;

    public override void Handle(RequestContext request, ref KafkaReader body)
    {
        var r = VoteRequest.Read(ref body, request.Version);
        if (r.Topics.Count != 1 || r.Topics[0].Partitions.Count != 1
            || Broker.FindRaftEndpoint(r.Topics[0].TopicName, r.Topics[0].Partitions[0].PartitionIndex) is not { } endpoint)
        {
            Broker.Log.Warn("{ApiKey} for no raft log of this node ({Topics} topics) from {Connection}", Key, r.Topics.Count, request.Connection);
            request.Respond(new VoteResponse { ErrorCode = ErrorCode.UnknownTopicOrPartition });
            return;
        }
        if (r.ClusterId is { } cluster && cluster.Length > 0 && cluster != Broker.ClusterId)
        {
            request.Respond(new VoteResponse { ErrorCode = ErrorCode.InconsistentClusterId });
            return;
        }
        endpoint.OnVote(r, request.Respond, Broker.Clock.MonotonicMs);
    }
}
