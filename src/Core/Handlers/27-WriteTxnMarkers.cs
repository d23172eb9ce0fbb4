using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Handlers;

/// <summary>WriteTxnMarkers (key 27), versions 0-1: writes commit/abort markers to partitions led here,
/// answered per partition once each marker is durable. A marker whose coordinator epoch is older than the
/// last one written for that producer gets TRANSACTION_COORDINATOR_FENCED. On one node the coordinator writes
/// its markers through the same path without a request; in a quorum it sends this request to the leaders of
/// partitions led elsewhere, and a node that does not lead a partition named here answers NOT_LEADER_OR_FOLLOWER.</summary>
public sealed class WriteTxnMarkersHandler(BrokerNode broker) : ApiHandler(broker)
{
    public override ApiKey Key => ApiKey.WriteTxnMarkers;
    public override short MinVersion => 0;
    public override short MaxVersion => 1;

    public override void Handle(RequestContext request, ref KafkaReader body)
    {
        var write = WriteTxnMarkersRequest.Read(ref body, request.Version);
        var response = new WriteTxnMarkersResponse();
        int generation = request.Generation;
        int waiting = 1;
        void Done()
        {
            if (--waiting > 0) return;
            if (request.Generation == generation && request.IsConnectionOpen) request.Respond(response);
        }
        foreach (var marker in write.Markers)
        {
            var result = new WriteTxnMarkersResponse.WritableTxnMarkerResult { ProducerId = marker.ProducerId };
            response.Markers.Add(result);
            var partitions = new List<TopicPartition>();
            foreach (var t in marker.Topics)
            {
                result.Topics.Add(new WriteTxnMarkersResponse.WritableTxnMarkerTopicResult { Name = t.Name });
                foreach (int p in t.PartitionIndexes) partitions.Add(new TopicPartition(t.Name, p));
            }
            waiting++;
            Broker.Transactions.WriteMarkers(marker.ProducerId, marker.ProducerEpoch, marker.TransactionResult, marker.CoordinatorEpoch,
                partitions, errors =>
                {
                    foreach (var (tp, error) in errors)
                    {
                        var topic = result.Topics.First(x => x.Name == tp.Topic);
                        topic.Partitions.Add(new WriteTxnMarkersResponse.WritableTxnMarkerPartitionResult { PartitionIndex = tp.Partition, ErrorCode = error });
                    }
                    Done();
                }, forward: false);
        }
        Done();
    }
}
