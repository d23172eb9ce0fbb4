using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json;
using DetKafka.Core.Records;
using Xunit;

namespace DetKafka.Chaos;

/// <summary>
/// Every compression codec Kafka clients use, produced and consumed by real clients against the real broker: kcat
/// and confluent-kafka (librdkafka 2.0.2), kafka-python 2.0.2 (with Debian's python3-snappy, python3-lz4 and
/// python3-zstandard) and kafkajs 2.2.4 (gzip built in; snappy from kafkajs-snappy, lz4 over lz4js, zstd over
/// @mongodb-js/zstd). Each test reads the broker's own segment files to check the codec the batches were stored in,
/// so a client that quietly sent uncompressed batches cannot pass for one that compressed.
/// <para>librdkafka compresses with lz4 only when the broker advertises FindCoordinator v0 (its "LZ4" feature flag,
/// rdkafka_feature.c). DetKafka serves FindCoordinator 0-4 since consumer groups exist, so kcat -z lz4 and
/// confluent-kafka with lz4 send lz4 batches, and the tests assert that they are stored as lz4. librdkafka decodes lz4 batches, which the
/// tests check on batches kafka-python and kafkajs wrote.</para>
/// </summary>
public sealed class CompressionTests(BrokerFixture fixture) : IClassFixture<BrokerFixture>
{
    private readonly BrokerProcess _broker = fixture.Broker;

    public static TheoryData<string> Codecs => new() { "gzip", "snappy", "lz4", "zstd" };

    private static CompressionCodec CodecOf(string name) => name switch
    {
        "none" or "uncompressed" => CompressionCodec.None,
        "gzip" => CompressionCodec.Gzip,
        "snappy" => CompressionCodec.Snappy,
        "lz4" => CompressionCodec.Lz4,
        "zstd" => CompressionCodec.Zstd,
        _ => throw new ArgumentException(name),
    };

    /// <summary>What librdkafka 2.0.2 actually sends for <paramref name="codec"/> to this broker (see the class comment).</summary>
    private static CompressionCodec LibrdkafkaSends(string codec) => CodecOf(codec);

    [Theory]
    [MemberData(nameof(Codecs))]
    public void Kcat_produces_and_consumes_each_codec(string codec)
    {
        string topic = "kcat-z-" + codec;
        const int count = 3_000;
        var input = new StringBuilder();
        for (int i = 0; i < count; i++) input.Append(CultureInfo.InvariantCulture, $"k{i % 10}:{codec}-value-{i}-the-same-words-again\n");
        Clients.KcatRun(["-P", "-b", _broker.Bootstrap, "-t", topic, "-K:", "-z", codec, "-X", "linger.ms=50"],
            TimeSpan.FromSeconds(120), stdin: input.ToString());

        CommandResult consumed = Clients.KcatRun(["-C", "-b", _broker.Bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%o %k %s\\n"],
            TimeSpan.FromSeconds(120));
        var lines = consumed.StdoutLines.ToList();
        Assert.Equal(count, lines.Count);
        for (int i = 0; i < count; i++)
            Assert.Equal($"{i} k{i % 10} {codec}-value-{i}-the-same-words-again", lines[i]);
        AssertMostlyStoredIn(topic, LibrdkafkaSends(codec));
        _broker.AssertAlive($"after kcat -z {codec}");
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void Confluent_kafka_produces_and_consumes_each_codec(string codec)
    {
        string topic = "ck-z-" + codec;
        const int count = 2_000;
        CommandResult produced = Clients.PythonScript("ck_produce.py",
            [_broker.Bootstrap, topic, count.ToString(CultureInfo.InvariantCulture), "ck-" + codec, "--compression", codec]);
        Assert.Equal(count, ClientRecord.OfType(produced, "ack").Count);

        CommandResult consumed = Clients.PythonScript("ck_consume.py", [_broker.Bootstrap, topic]);
        var records = ClientRecord.OfType(consumed, "record");
        Assert.Equal(count, records.Count);
        LogAssert.ContiguousFromZero(records);
        Assert.Equal(Enumerable.Range(0, count).Select(i => $"ck-{codec}-{i}").Order(StringComparer.Ordinal),
            records.Select(r => r.Value!).Order(StringComparer.Ordinal));
        AssertMostlyStoredIn(topic, LibrdkafkaSends(codec));
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void Kafka_python_produces_and_consumes_each_codec_and_librdkafka_reads_it_too(string codec)
    {
        string topic = "kp-z-" + codec;
        const int count = 1_500;
        CommandResult produced = Clients.PythonScript("kp_produce.py",
            [_broker.Bootstrap, topic, count.ToString(CultureInfo.InvariantCulture), "kp-" + codec, codec]);
        Assert.Equal(count, ClientRecord.OfType(produced, "ack").Count);
        AssertMostlyStoredIn(topic, CodecOf(codec));

        var expected = Enumerable.Range(0, count).Select(i => $"kp-{codec}-{i}").ToList();
        CommandResult consumed = Clients.PythonScript("kp_consume.py", [_broker.Bootstrap, topic]);
        var records = ClientRecord.OfType(consumed, "record");
        LogAssert.ContiguousFromZero(records);
        Assert.Equal(expected, records.OrderBy(r => r.Offset).Select(r => r.Value!));

        // librdkafka decodes kafka-python's framing (xerial snappy, lz4 frames) as well.
        CommandResult kcat = Clients.KcatRun(["-C", "-b", _broker.Bootstrap, "-t", topic, "-o", "beginning", "-e", "-q"],
            TimeSpan.FromSeconds(60));
        Assert.Equal(expected, kcat.StdoutLines);
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void Kafkajs_produces_each_codec_and_kcat_and_kafka_python_read_it_back(string codec)
    {
        string topic = "kjs-z-" + codec;
        const int count = 1_000;
        string script = Path.Combine(RepoPaths.Root, "tests", "chaos", "clients", "node", "kjs_compress.js");
        CommandResult run = Clients.RunChecked("node", [script, _broker.Bootstrap, topic, codec, count.ToString(CultureInfo.InvariantCulture)],
            TimeSpan.FromSeconds(90));
        var acks = run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(l => l.GetProperty("type").GetString() == "ack").ToList();
        Assert.Equal(count / 250, acks.Count);
        Assert.All(acks, a => Assert.Equal(0, a.GetProperty("errorCode").GetInt32()));
        AssertStoredIn(topic, CodecOf(codec));

        var expected = Enumerable.Range(0, count).Select(i => $"k{i} kjs-{codec}-{i}").ToList();
        CommandResult kcat = Clients.KcatRun(["-C", "-b", _broker.Bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k %s\\n"],
            TimeSpan.FromSeconds(60));
        Assert.Equal(expected, kcat.StdoutLines);
        CommandResult kp = Clients.PythonScript("kp_consume.py", [_broker.Bootstrap, topic]);
        Assert.Equal(expected, ClientRecord.OfType(kp, "record").OrderBy(r => r.Offset).Select(r => $"{r.Key} {r.Value}"));
    }

    [Theory]
    [InlineData("zstd", "gzip")]
    [InlineData("lz4", "snappy")]
    [InlineData("uncompressed", "zstd")]
    [InlineData("gzip", "none")]
    [InlineData("snappy", "zstd")]
    public void Topic_compression_type_makes_the_broker_recompress(string topicCodec, string producerCodec)
    {
        string topic = $"recompress-{topicCodec}-{producerCodec}";
        Clients.PythonScript("kp_admin.py", [_broker.Bootstrap, "create", topic, "1", "compression.type=" + topicCodec]);
        CommandResult described = Clients.PythonScript("kp_admin.py", [_broker.Bootstrap, "describe", topic]);
        Assert.Contains($"\"compression.type\": \"{topicCodec}\"", described.Stdout);

        const int count = 1_000;
        var input = new StringBuilder();
        for (int i = 0; i < count; i++) input.Append(CultureInfo.InvariantCulture, $"recompressed-{i}\n");
        Clients.KcatRun(["-P", "-b", _broker.Bootstrap, "-t", topic, "-z", producerCodec, "-X", "linger.ms=50"],
            TimeSpan.FromSeconds(60), stdin: input.ToString());
        AssertStoredIn(topic, CodecOf(topicCodec));

        var expected = Enumerable.Range(0, count).Select(i => $"recompressed-{i}").ToList();
        CommandResult kcat = Clients.KcatRun(["-C", "-b", _broker.Bootstrap, "-t", topic, "-o", "beginning", "-e", "-q"],
            TimeSpan.FromSeconds(60));
        Assert.Equal(expected, kcat.StdoutLines);
        CommandResult kp = Clients.PythonScript("kp_consume.py", [_broker.Bootstrap, topic]);
        Assert.Equal(expected, ClientRecord.OfType(kp, "record").OrderBy(r => r.Offset).Select(r => r.Value!));
    }

    /// <summary>Every batch of every partition of <paramref name="topic"/> on disk carries <paramref name="expected"/>.</summary>
    private void AssertStoredIn(string topic, CompressionCodec expected)
    {
        var batches = StoredBatches(topic);
        Assert.True(batches.Count > 0, $"no batches of {topic} found under {_broker.DataDir}");
        Assert.True(batches.All(b => b.Codec == expected), $"{topic}: expected every batch stored as {expected}, found {Describe(batches)}");
    }

    /// <summary>
    /// librdkafka and kafka-python both send a batch uncompressed when compressing does not make it smaller (a batch
    /// of one short record, say: kafka-python's DefaultRecordBatchBuilder._maybe_compress), so a few uncompressed
    /// batches are legitimate; at least 90% of the records must sit in batches of the codec asked for.
    /// </summary>
    private void AssertMostlyStoredIn(string topic, CompressionCodec expected)
    {
        var batches = StoredBatches(topic);
        Assert.True(batches.Count > 0, $"no batches of {topic} found under {_broker.DataDir}");
        Assert.True(batches.All(b => b.Codec == expected || b.Codec == CompressionCodec.None),
            $"{topic}: expected batches stored as {expected} or uncompressed, found {Describe(batches)}");
        long inCodec = batches.Where(b => b.Codec == expected).Sum(b => (long)b.Records);
        Assert.True(inCodec * 10 >= batches.Sum(b => (long)b.Records) * 9, $"{topic}: too few records stored as {expected}: {Describe(batches)}");
    }

    private static string Describe(List<(CompressionCodec Codec, int Records)> batches)
        => string.Join(", ", batches.GroupBy(b => b.Codec).Select(g => $"{g.Count()} {g.Key} batches of {g.Sum(b => b.Records)} records"));

    /// <summary>The codec and record count of each batch in the topic's segment files (acknowledged batches are synced).</summary>
    private List<(CompressionCodec Codec, int Records)> StoredBatches(string topic)
    {
        var result = new List<(CompressionCodec, int)>();
        foreach (var dir in Directory.GetDirectories(_broker.DataDir, topic + "-*"))
        {
            if (!int.TryParse(Path.GetFileName(dir)[(topic.Length + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out _)) continue;
            foreach (var file in Directory.GetFiles(dir, "*.log").Order(StringComparer.Ordinal))
            {
                byte[] bytes = File.ReadAllBytes(file);
                int at = 0;
                while (RecordBatchHeader.TryRead(bytes.AsSpan(at), out var header) && header.BatchLength > 0
                       && at + header.TotalSize <= bytes.Length)
                {
                    result.Add((header.Codec, header.RecordsCount));
                    at += (int)header.TotalSize;
                }
            }
        }
        return result;
    }
}
