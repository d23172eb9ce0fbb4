using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>
/// OffsetForLeaderEpoch (key 23), versions 0-4: for each partition, the largest epoch at or below the one asked
/// and the offset where it ends, from the leader's epoch cache (Kafka's <c>endOffsetFor</c>; the latest epoch ends at
/// the log end offset; an epoch the cache cannot place gets UNDEFINED_EPOCH / UNDEFINED_EPOCH_OFFSET). Only the
/// leader answers, after the CurrentLeaderEpoch fence (v2+): FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH,
/// NOT_LEADER_OR_FOLLOWER, as Fetch does.
/// </summary>
public sealed class OffsetForLeaderEpochHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.OffsetForLeaderEpoch;
    public override short MinVersion => 0;
    public override short MaxVersion => 4;

    /// <summary>Requests served since start (tests and the host's stats read it).</summary>
    public long Served { get; private set; }

    public override void Handle(RequestContext request, ref KafkaReader body)
    {
        var ask = OffsetForLeaderEpochRequest.Read(ref body, request.Version);
        Served++;
        var response = new OffsetForLeaderEpochResponse();
        foreach (var topic in ask.Topics)
        {
            var t = new OffsetForLeaderEpochResponse.OffsetForLeaderTopicResult { Topic = topic.Topic };
            response.Topics.Add(t);
            foreach (var partition in topic.Partitions)
            {
                var p = new OffsetForLeaderEpochResponse.EpochEndOffset { Partition = partition.Partition };
                t.Partitions.Add(p);
                var replica = Broker.Replicas.GetPartition(topic.Topic, partition.Partition);
                if (replica is null)
                {
                    p.ErrorCode = ErrorCode.UnknownTopicOrPartition;
                    continue;
                }
                p.ErrorCode = replica.CheckLeaderEpoch(partition.CurrentLeaderEpoch, requireLeader: true);
                if (p.ErrorCode != ErrorCode.None) continue;
                (p.LeaderEpoch, p.EndOffset) = replica.EndOffsetForEpoch(partition.LeaderEpoch);
            }
        }
        Broker.Log.Info("OffsetForLeaderEpoch v{Version} from {Connection}: {Topics} topics", request.Version, request.Connection, ask.Topics.Count);
        request.Respond(response);
    }
}
