using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using Xunit;

namespace DetKafka.Properties.Protocol;

/// <summary>
/// Requests as the real clients sent them (kcat and confluent-kafka on librdkafka 2.0.2, kafka-python 2.0.2,
/// kafkajs 2.2.4, and Confluent.Kafka 2.16.0 for .NET, whose flexible versions cover Produce v9, Fetch v12,
/// ListOffsets v7, Metadata v9, DeleteTopics v4, DeleteRecords v2, CreatePartitions v2 and
/// IncrementalAlterConfigs v1), captured through a loopback proxy (Protocol/Golden/capture.py) into one hex file per client,
/// API key and version. Each must decode completely and re-encode to the same bytes, header included: a field
/// read at the wrong version, a wrong default or a lost tagged field shows up as a byte that differs.
/// </summary>
public class GoldenBytesTests
{
    private static string Folder => Path.Combine(AppContext.BaseDirectory, "Golden");

    public static TheoryData<string> Captures()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.GetFiles(Folder, "*.hex").Order(StringComparer.Ordinal)) data.Add(Path.GetFileName(file));
        return data;
    }

    [Fact]
    public void Every_client_and_several_versions_are_captured()
    {
        var names = Directory.GetFiles(Folder, "*.hex").Select(f => Path.GetFileName(f)).ToList();
        foreach (var client in new[] { "kcat-", "confluent-python-", "kafka-python-", "kafkajs-", "confluent-dotnet-" })
            Assert.True(names.Count(n => n.StartsWith(client, StringComparison.Ordinal)) >= 5, $"too few captures from {client}");
        // Some APIs in more than one version across the clients (Metadata 0, 1, 4, 5, 6; ApiVersions 0, 2, 3).
        Assert.True(names.Count(n => n.Contains("-3-v", StringComparison.Ordinal)) >= 4);
        Assert.True(names.Count(n => n.Contains("-18-v", StringComparison.Ordinal)) >= 3);
        // Flexible versions (compact encodings, tagged sections) from the .NET client.
        foreach (var flexible in new[] { "-0-v9", "-1-v12", "-3-v9", "-2-v7" })
            Assert.Contains(names, n => n.EndsWith(flexible + ".hex", StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Captures))]
    public void A_captured_request_decodes_and_re_encodes_byte_for_byte(string file)
    {
        byte[] frame = Convert.FromHexString(File.ReadAllText(Path.Combine(Folder, file)).Trim());
        var reader = new KafkaReader(frame);
        Assert.True(RequestHeader.TryRead(ref reader, out var header), $"{file}: unknown API key");
        Assert.True(MessageCodec.CodecRange(header.ApiKey) is { } range && header.ApiVersion >= range.Min && header.ApiVersion <= range.Max,
            $"{file}: {header.ApiKey} v{header.ApiVersion} is outside the codec's range");
        var body = MessageCodec.ReadRequest(header.ApiKey, ref reader, header.ApiVersion);
        Assert.True(reader.IsAtEnd, $"{file}: {reader.Remaining} bytes left undecoded");

        using var writer = new KafkaWriter();
        header.Write(writer);
        body.Write(writer, header.ApiVersion);
        Assert.Equal(Convert.ToHexString(frame), Convert.ToHexString(writer.WrittenSpan));
    }

    [Fact]
    public void Captured_idempotent_produces_carry_a_producer_id_and_sequence_from_InitProducerId()
    {
        var files = Directory.GetFiles(Folder, "*-idempotent-0-*.hex");
        Assert.True(files.Length >= 4, "idempotent produce captures of kcat, confluent-kafka, kafkajs and Confluent.Kafka");
        foreach (var file in files)
        {
            byte[] frame = Convert.FromHexString(File.ReadAllText(file).Trim());
            var reader = new KafkaReader(frame);
            Assert.True(RequestHeader.TryRead(ref reader, out var header));
            var produce = (ProduceRequest)MessageCodec.ReadRequest(ApiKey.Produce, ref reader, header.ApiVersion);
            var records = produce.TopicData[0].PartitionData[0].Records!.Value.Span;
            Assert.True(Core.Records.RecordBatchHeader.TryRead(records, out var batch));
            Assert.True(batch.ProducerId >= 0, $"{Path.GetFileName(file)}: producer id {batch.ProducerId}");
            Assert.Equal(0, batch.BaseSequence);
        }
        // And the InitProducerId requests that gave them their ids (v4 from librdkafka, v1 from kafkajs).
        Assert.True(Directory.GetFiles(Folder, "*-22-v*.hex").Length >= 4);
    }

    [Fact]
    public void A_captured_produce_carries_the_records_as_sent()
    {
        byte[] frame = Convert.FromHexString(File.ReadAllText(Path.Combine(Folder, "kcat-0-v7.hex")).Trim());
        var reader = new KafkaReader(frame);
        Assert.True(RequestHeader.TryRead(ref reader, out var header));
        var produce = (ProduceRequest)MessageCodec.ReadRequest(ApiKey.Produce, ref reader, header.ApiVersion);
        var partition = produce.TopicData.Single(t => t.Name == "golden").PartitionData.First();
        var records = partition.Records!.Value.Span;
        Assert.Equal(2, records[16]); // magic: record batch v2
        Assert.Equal(1, records[22] & 0x07); // kcat -z gzip
    }
}
