using DetKafka.Core.Protocol;
using FsCheck;
using FsCheck.Fluent;
using Xunit;
using static DetKafka.Properties.Protocol.RoundTrip;

namespace DetKafka.Properties.Protocol;

/// <summary>Overwritten bytes (lengths turned huge or negative, varints made long) must fail as
/// ProtocolException, which the broker turns into a closed connection, and never as anything else.</summary>
public class CorruptInputTests
{
    private static Gen<List<(int, byte)>> Edits
        => ListOf(Gen.Zip(Gen.Choose(0, int.MaxValue), Gen.Elements<byte>(0x00, 0x7F, 0x80, 0xFF, 0xFE, 0x01, 0x8F)), 4)
            .Where(l => l.Count > 0);

    private static void Run<T>(ApiKey key, bool isRequest, Func<short, Gen<T>> gen) where T : IKafkaMessage
    {
        foreach (short v in Versions(key))
            ForAll(Gen.Zip(gen(v), Edits), t => CheckCorruption(key, v, Encode(t.Item1, v), isRequest, t.Item2), maxTest: 60);
    }

    [Fact] public void Metadata_requests() => Run(ApiKey.Metadata, true, MetadataCodecTests.RequestGen);
    [Fact] public void Metadata_responses() => Run(ApiKey.Metadata, false, MetadataCodecTests.ResponseGen);
    [Fact] public void Produce_requests() => Run(ApiKey.Produce, true, ProduceCodecTests.RequestGen);
    [Fact] public void Produce_responses() => Run(ApiKey.Produce, false, ProduceCodecTests.ResponseGen);
    [Fact] public void Fetch_requests() => Run(ApiKey.Fetch, true, FetchCodecTests.RequestGen);
    [Fact] public void Fetch_responses() => Run(ApiKey.Fetch, false, FetchCodecTests.ResponseGen);
    [Fact] public void ListOffsets_requests() => Run(ApiKey.ListOffsets, true, ListOffsetsCodecTests.RequestGen);
    [Fact] public void ListOffsets_responses() => Run(ApiKey.ListOffsets, false, ListOffsetsCodecTests.ResponseGen);

    [Fact]
    public void A_compact_length_beyond_int32_is_a_protocol_error()
    {
        // Compact string length 0xFFFFFFFF - 1 = 4294967294 does not fit an int.
        byte[] bytes = [0xFF, 0xFF, 0xFF, 0xFF, 0x0F];
        Assert.Throws<ProtocolException>(() => Decode(ApiKey.Metadata, 9, bytes, isRequest: true));
    }

    [Fact]
    public void A_tagged_field_size_beyond_int32_is_a_protocol_error()
    {
        // v9 request: null topics, three flags, then one tagged field whose size is 0xFFFFFFFF.
        byte[] bytes = [0x00, 0x01, 0x00, 0x00, 0x01, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F];
        Assert.Throws<ProtocolException>(() => Decode(ApiKey.Metadata, 9, bytes, isRequest: true));
    }
}
