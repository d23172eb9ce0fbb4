using DetKafka.Core.Protocol.Messages;

namespace DetKafka.Core.Protocol;

/// <summary>
/// One place that maps an API key to its request and response decoders and to the version range the codec
/// can encode. Handlers decide what the broker serves (a subset); clients and tests use the codec directly.
/// </summary>
public static class MessageCodec
{
    /// <summary>The versions the codec implements for a key, or null when the key has no codec.</summary>
    public static (short Min, short Max)? CodecRange(ApiKey key) => key switch
    {
        ApiKey.Produce => (0, 9),
        ApiKey.Fetch => (4, 12),
        ApiKey.ListOffsets => (0, 7),
        ApiKey.Metadata => (0, 9),
        ApiKey.ApiVersions => (0, 3),
        ApiKey.CreateTopics => (0, 7),
        ApiKey.DeleteTopics => (0, 6),
        ApiKey.DeleteRecords => (0, 2),
        ApiKey.DescribeConfigs => (0, 4),
        ApiKey.AlterConfigs => (0, 2),
        ApiKey.CreatePartitions => (0, 3),
        ApiKey.IncrementalAlterConfigs => (0, 1),
        ApiKey.DescribeCluster => (0, 1),
        _ => null,
    };

    public static IKafkaMessage ReadRequest(ApiKey key, ref KafkaReader reader, short version) => key switch
    {
        ApiKey.Produce => ProduceRequest.Read(ref reader, version),
        ApiKey.Fetch => FetchRequest.Read(ref reader, version),
        ApiKey.ListOffsets => ListOffsetsRequest.Read(ref reader, version),
        ApiKey.Metadata => MetadataRequest.Read(ref reader, version),
        ApiKey.ApiVersions => ApiVersionsRequest.Read(ref reader, version),
        ApiKey.CreateTopics => CreateTopicsRequest.Read(ref reader, version),
        ApiKey.DeleteTopics => DeleteTopicsRequest.Read(ref reader, version),
        ApiKey.DeleteRecords => DeleteRecordsRequest.Read(ref reader, version),
        ApiKey.DescribeConfigs => DescribeConfigsRequest.Read(ref reader, version),
        ApiKey.AlterConfigs => AlterConfigsRequest.Read(ref reader, version),
        ApiKey.CreatePartitions => CreatePartitionsRequest.Read(ref reader, version),
        ApiKey.IncrementalAlterConfigs => IncrementalAlterConfigsRequest.Read(ref reader, version),
        ApiKey.DescribeCluster => DescribeClusterRequest.Read(ref reader, version),
        _ => throw new ProtocolException($"no codec for API key {(short)key}"),
    };

    public static IKafkaMessage ReadResponse(ApiKey key, ref KafkaReader reader, short version) => key switch
    {
        ApiKey.Produce => ProduceResponse.Read(ref reader, version),
        ApiKey.Fetch => FetchResponse.Read(ref reader, version),
        ApiKey.ListOffsets => ListOffsetsResponse.Read(ref reader, version),
        ApiKey.Metadata => MetadataResponse.Read(ref reader, version),
        ApiKey.ApiVersions => ApiVersionsResponse.Read(ref reader, version),
        ApiKey.CreateTopics => CreateTopicsResponse.Read(ref reader, version),
        ApiKey.DeleteTopics => DeleteTopicsResponse.Read(ref reader, version),
        ApiKey.DeleteRecords => DeleteRecordsResponse.Read(ref reader, version),
        ApiKey.DescribeConfigs => DescribeConfigsResponse.Read(ref reader, version),
        ApiKey.AlterConfigs => AlterConfigsResponse.Read(ref reader, version),
        ApiKey.CreatePartitions => CreatePartitionsResponse.Read(ref reader, version),
        ApiKey.IncrementalAlterConfigs => IncrementalAlterConfigsResponse.Read(ref reader, version),
        ApiKey.DescribeCluster => DescribeClusterResponse.Read(ref reader, version),
        _ => throw new ProtocolException($"no codec for API key {(short)key}"),
    };
}
