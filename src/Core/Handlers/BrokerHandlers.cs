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
        new CreateTopicsHandler(broker),
        new DeleteTopicsHandler(broker),
        new DeleteRecordsHandler(broker),
        new InitProducerIdHandler(broker),
        new DescribeConfigsHandler(broker),
        new AlterConfigsHandler(broker),
        new CreatePartitionsHandler(broker),
        new IncrementalAlterConfigsHandler(broker),
        new DescribeClusterHandler(broker),
    ];
}
