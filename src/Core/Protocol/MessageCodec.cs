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
        // Each message file adds its line here: ApiKey.X => (min, max),
        _ => null,
    };

    public static IKafkaMessage ReadRequest(ApiKey key, ref KafkaReader reader, short version) => key switch
    {
        ApiKey.Produce => ProduceRequest.Read(ref reader, version),
        ApiKey.Fetch => FetchRequest.Read(ref reader, version),
        ApiKey.ListOffsets => ListOffsetsRequest.Read(ref reader, version),
        ApiKey.Metadata => MetadataRequest.Read(ref reader, version),
        ApiKey.ApiVersions => ApiVersionsRequest.Read(ref reader, version),
        _ => throw new ProtocolException($"no codec for API key {(short)key}"),
    };

    public static IKafkaMessage ReadResponse(ApiKey key, ref KafkaReader reader, short version) => key switch
    {
        ApiKey.Produce => ProduceResponse.Read(ref reader, version),
        ApiKey.Fetch => FetchResponse.Read(ref reader, version),
        ApiKey.ListOffsets => ListOffsetsResponse.Read(ref reader, version),
        ApiKey.Metadata => MetadataResponse.Read(ref reader, version),
        ApiKey.ApiVersions => ApiVersionsResponse.Read(ref reader, version),
        _ => throw new ProtocolException($"no codec for API key {(short)key}"),
    };
}
