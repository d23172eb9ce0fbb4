using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>
/// ListOffsets (key 2), versions 0-7. Timestamp -2 is the log start offset, -1 the latest (the high
/// watermark, or under read_committed the last stable offset), -3 (v7) the record with the largest
/// timestamp; any other timestamp finds the first offset whose record timestamp is at or after it, through
/// the time index. v0 answers in its old layout (a list of offsets).
/// </summary>
public sealed class ListOffsetsHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.ListOffsets;
    public override short MinVersion => 0;
    public override short MaxVersion => 7;

    public override void Handle(RequestContext request, ref KafkaReader body)
    {
        var list = ListOffsetsRequest.Read(ref body, request.Version);
        var response = new ListOffsetsResponse();
        foreach (var topic in list.Topics)
        {
            var topicResponse = new ListOffsetsResponse.ListOffsetsTopicResponse { Name = topic.Name };
            response.Topics.Add(topicResponse);
            foreach (var partition in topic.Partitions)
            {
                var p = new ListOffsetsResponse.ListOffsetsPartitionResponse { PartitionIndex = partition.PartitionIndex };
                topicResponse.Partitions.Add(p);
                var replica = Broker.Replicas.GetPartition(topic.Name, partition.PartitionIndex);
                if (replica is null)
                {
                    p.ErrorCode = ErrorCode.UnknownTopicOrPartition;
                    continue;
                }
                // v4+ carries the client's leader epoch (-1 before); offsets come from the leader only.
                var epochError = replica.CheckLeaderEpoch(partition.CurrentLeaderEpoch, requireLeader: true);
                if (epochError != ErrorCode.None)
                {
                    p.ErrorCode = epochError;
                    if (request.Version == 0) continue;
                    p.Timestamp = -1;
                    p.Offset = -1;
                    continue;
                }
                // read_committed (v2+) sees up to the last stable offset: "latest" is the LSO.
                long hw = request.Version >= 2 && list.IsolationLevel == 1 ? Broker.Transactions.LastStableOffset(replica.Log) : replica.HighWatermark;
                (long Timestamp, long Offset)? found = partition.Timestamp switch
                {
                    ListOffsetsRequest.EarliestTimestamp => (-1, replica.LogStartOffset),
                    ListOffsetsRequest.LatestTimestamp => (-1, hw),
                    ListOffsetsRequest.MaxTimestamp => replica.MaxTimestampOffset() is { } m ? (m.Timestamp, m.Offset) : null,
                    _ => replica.OffsetForTimestamp(partition.Timestamp) is { } t
                        ? (t.Timestamp, t.Offset + (Broker.Config.TestOnlyListOffsetsOffByOne ? 1 : 0)) : null,
                };
                p.ErrorCode = ErrorCode.None;
                p.LeaderEpoch = replica.LeaderEpoch;
                if (request.Version == 0)
                {
                    // v0 asks for up to max_num_offsets offsets before a time; the latest/earliest one is what
                    // clients of v0 actually use.
                    if (found is { } f && partition.MaxNumOffsets > 0) p.OldStyleOffsets.Add(f.Offset);
                    else if (partition.MaxNumOffsets > 0) p.OldStyleOffsets.Add(hw);
                    continue;
                }
                p.Timestamp = found?.Timestamp ?? -1;
                p.Offset = found?.Offset ?? -1;
            }
        }
        request.Respond(response);
    }
}
