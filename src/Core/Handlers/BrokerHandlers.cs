using DetKafka.Core.Broker;

namespace DetKafka.Core.Handlers;

/// <summary>The served APIs besides ApiVersions, in key order; each entry is one file under Handlers/.</summary>
internal static class BrokerHandlers
{
    public static IEnumerable<ApiHandler> Create(BrokerNode broker) =>
    [
        new ProduceHandler(broker),
        new FetchHandler(broker),
        new ListOffsetsHandler(broker),
        new MetadataHandler(broker),
        new OffsetCommitHandler(broker),
        new OffsetFetchHandler(broker),
        new FindCoordinatorHandler(broker),
        new JoinGroupHandler(broker),
        new HeartbeatHandler(broker),
        new LeaveGroupHandler(broker),
        new SyncGroupHandler(broker),
        new DescribeGroupsHandler(broker),
        new ListGroupsHandler(broker),
        new CreateTopicsHandler(broker),
        new DeleteTopicsHandler(broker),
        new DeleteRecordsHandler(broker),
        new InitProducerIdHandler(broker),
        new OffsetForLeaderEpochHandler(broker),
        new AddPartitionsToTxnHandler(broker),
        new AddOffsetsToTxnHandler(broker),
        new EndTxnHandler(broker),
        new WriteTxnMarkersHandler(broker),
        new TxnOffsetCommitHandler(broker),
        new DescribeConfigsHandler(broker),
        new AlterConfigsHandler(broker),
        new CreatePartitionsHandler(broker),
        new DeleteGroupsHandler(broker),
        new IncrementalAlterConfigsHandler(broker),
        new OffsetDeleteHandler(broker),
        new VoteHandler(broker),
        new BeginQuorumEpochHandler(broker),
        new EndQuorumEpochHandler(broker),
        new DescribeQuorumHandler(broker),
        new DescribeClusterHandler(broker),
        new DescribeTransactionsHandler(broker),
        new ListTransactionsHandler(broker),
        new AllocateProducerIdsHandler(broker),
        new ConsumerGroupHeartbeatHandler(broker),
        new ConsumerGroupDescribeHandler(broker),
    ];
}
