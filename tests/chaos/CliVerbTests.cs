using System.Globalization;
using System.Text;
using System.Text.Json;
using Xunit;

namespace DetKafka.Chaos;

/// <summary>
/// Each `detkafka` CLI verb against the real broker process, its effect read back with a real client (kcat,
/// kafka-python), and the CLI's reading of what a real client did.
/// </summary>
public sealed class CliVerbTests(BrokerFixture fixture) : IClassFixture<BrokerFixture>
{
    private readonly BrokerProcess _broker = fixture.Broker;

    private string[] B => ["--brokers", _broker.Bootstrap];

    /// <summary>kcat's view of the cluster: topic name to partition count.</summary>
    private Dictionary<string, int> KcatTopics()
    {
        CommandResult r = Clients.KcatRun(["-L", "-J", "-b", _broker.Bootstrap]);
        using var doc = JsonDocument.Parse(r.Stdout);
        return doc.RootElement.GetProperty("topics").EnumerateArray()
            .ToDictionary(t => t.GetProperty("topic").GetString()!, t => t.GetProperty("partitions").GetArrayLength());
    }

    private List<string> KcatRead(string topic, string format, params string[] extra) =>
        Clients.KcatRun(["-C", "-b", _broker.Bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", "-f", format, .. extra]).StdoutLines.ToList();

    [Fact]
    public void Topic_create_list_add_partitions_and_delete_are_seen_by_kcat()
    {
        const string topic = "cli-admin";
        CommandResult created = DetKafkaCli.RunChecked(["topic", "create", topic, "-p", "3", "-c", "retention.ms=3600000", .. B]);
        Assert.Contains(topic, created.Stdout);
        Assert.Contains("OK", created.Stdout);
        Assert.Equal(3, KcatTopics()[topic]);

        // Creating it again fails with one line naming the topic and Kafka's error.
        CommandResult again = DetKafkaCli.Run(["topic", "create", topic, "-p", "3", .. B]);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains($"topic '{topic}': TOPIC_ALREADY_EXISTS", again.Stderr);

        // list: a topic kcat created by producing is there too.
        Clients.KcatRun(["-P", "-b", _broker.Bootstrap, "-t", "cli-from-kcat"], stdin: "x\n");
        var listed = DetKafkaCli.Json(["topic", "list", .. B]).EnumerateArray()
            .ToDictionary(t => t.GetProperty("name").GetString()!, t => t.GetProperty("partitions").GetInt32());
        Assert.Equal(3, listed[topic]);
        Assert.Equal(1, listed["cli-from-kcat"]);
        Assert.Contains(topic, DetKafkaCli.RunChecked(["topic", "list", .. B]).Stdout);

        var grown = DetKafkaCli.Json(["topic", "add-partitions", topic, "--num", "2", .. B]);
        Assert.Equal(5, grown[0].GetProperty("partitions").GetInt32());
        Assert.Equal(5, KcatTopics()[topic]);

        DetKafkaCli.RunChecked(["topic", "delete", topic, .. B]);
        Assert.DoesNotContain(topic, KcatTopics().Keys);
        CommandResult gone = DetKafkaCli.Run(["topic", "delete", topic, .. B]);
        Assert.Equal(1, gone.ExitCode);
        Assert.Contains("UNKNOWN_TOPIC_OR_PARTITION", gone.Stderr);
    }

    [Fact]
    public void Topic_alter_config_is_seen_by_kafka_python_and_describe_shows_configs_and_offsets()
    {
        const string topic = "cli-config";
        DetKafkaCli.RunChecked(["topic", "create", topic, "-p", "2", "-c", "cleanup.policy=delete", .. B]);
        DetKafkaCli.RunChecked(["topic", "alter-config", topic, "--set", "retention.ms=86400000", "--set", "segment.bytes=1048576", .. B]);
        CommandResult described = Clients.PythonScript("kp_admin.py", [_broker.Bootstrap, "describe", topic]);
        var configs = described.JsonLines().Single().GetProperty("configs");
        Assert.Equal("86400000", configs.GetProperty("retention.ms").GetString());
        Assert.Equal("1048576", configs.GetProperty("segment.bytes").GetString());

        DetKafkaCli.RunChecked(["topic", "alter-config", topic, "--delete", "segment.bytes", .. B]);
        configs = Clients.PythonScript("kp_admin.py", [_broker.Bootstrap, "describe", topic]).JsonLines().Single().GetProperty("configs");
        Assert.Equal("1073741824", configs.GetProperty("segment.bytes").GetString());

        // A bad value is refused with Kafka's error, exit 1.
        CommandResult bad = DetKafkaCli.Run(["topic", "alter-config", topic, "--set", "retention.ms=soon", .. B]);
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("INVALID_CONFIG", bad.Stderr);

        // kcat writes 7 records to partition 1; describe reports the high watermark and the config sources.
        Clients.KcatRun(["-P", "-b", _broker.Bootstrap, "-t", topic, "-p", "1"], stdin: string.Concat(Enumerable.Range(0, 7).Select(i => $"r{i}\n")));
        var d = DetKafkaCli.Json(["topic", "describe", topic, .. B]);
        Assert.Equal(2, d.GetProperty("partitions").GetInt32());
        var parts = d.GetProperty("partition_details").EnumerateArray().ToList();
        Assert.Equal(0, parts[0].GetProperty("high_watermark").GetInt64());
        Assert.Equal(7, parts[1].GetProperty("high_watermark").GetInt64());
        Assert.Equal(1, parts[1].GetProperty("leader").GetInt32());
        var sources = d.GetProperty("configs").EnumerateArray().ToDictionary(c => c.GetProperty("name").GetString()!, c => c.GetProperty("source").GetString());
        Assert.Equal("topic", sources["retention.ms"]);
        Assert.Equal("default", sources["segment.bytes"]);

        CommandResult text = DetKafkaCli.RunChecked(["topic", "describe", topic, .. B]);
        foreach (var heading in new[] { "SUMMARY", "CONFIGS", "PARTITIONS", "HIGH-WATERMARK", "retention.ms", "86400000" })
            Assert.Contains(heading, text.Stdout);
    }

    [Fact]
    public void Produce_writes_keys_values_and_headers_that_kcat_reads_back()
    {
        const string topic = "cli-produce";
        DetKafkaCli.RunChecked(["topic", "create", topic, "-p", "2", .. B]);
        var input = new StringBuilder();
        for (int i = 0; i < 200; i++) input.Append(CultureInfo.InvariantCulture, $"k{i}:value {i}\n");
        var result = DetKafkaCli.Json(["produce", topic, "-K:", "-H", "source=cli", "-H", "run=1", "--acks", "all", "-z", "gzip", .. B], input.ToString());
        Assert.Equal(200, result.GetProperty("produced").GetInt64());

        var lines = KcatRead(topic, @"%p|%k|%s|%h\n");
        Assert.Equal(200, lines.Count);
        var seen = lines.Select(l => l.Split('|')).ToList();
        Assert.Equal(Enumerable.Range(0, 200).Select(i => ($"k{i}", $"value {i}")).ToHashSet(), seen.Select(x => (x[1], x[2])).ToHashSet());
        Assert.All(seen, x => Assert.Equal("source=cli,run=1", x[3]));
        Assert.Equal(["0", "1"], seen.Select(x => x[0]).Distinct().Order().ToArray());

        // Keys are partitioned as the Java client does (murmur2): librdkafka's murmur2 partitioner agrees.
        DetKafkaCli.RunChecked(["topic", "create", topic + "-kcat", "-p", "2", .. B]);
        Clients.KcatRun(["-P", "-b", _broker.Bootstrap, "-t", topic + "-kcat", "-K:", "-X", "topic.partitioner=murmur2"], stdin: input.ToString());
        var kcatPartition = KcatRead(topic + "-kcat", @"%k %p\n").Select(l => l.Split(' ')).ToDictionary(x => x[0], x => x[1]);
        Assert.Equal(200, kcatPartition.Count);
        Assert.All(seen, x => Assert.Equal(kcatPartition[x[1]], x[0]));

        // acks=0 and a single partition; no separator: the whole line is the value and the key is null.
        DetKafkaCli.RunChecked(["produce", topic, "--acks", "0", "-p", "1", .. B], "a:b\n");
        Assert.Contains("1|-1|a:b", Clients.KcatRun(["-C", "-b", _broker.Bootstrap, "-t", topic, "-p", "1", "-o", "-1", "-e", "-q", "-f", @"%p|%K|%s\n"]).Stdout);

        // A codec the client does not have is refused by name before anything is sent.
        CommandResult bad = DetKafkaCli.Run(["produce", topic, "-z", "brotli", .. B], "x\n");
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("--compression", bad.Stderr);
    }

    [Fact]
    public void Consume_prints_what_kcat_produced_from_beginning_offset_end_and_timestamp()
    {
        const string topic = "cli-consume";
        DetKafkaCli.RunChecked(["topic", "create", topic, "-p", "1", .. B]);
        long before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        Clients.KcatRun(["-P", "-b", _broker.Bootstrap, "-t", topic, "-K:", "-H", "h=1"], stdin: string.Concat(Enumerable.Range(0, 10).Select(i => $"k{i}:v{i}\n")));
        Thread.Sleep(20);
        long middle = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        Clients.KcatRun(["-P", "-b", _broker.Bootstrap, "-t", topic, "-K:"], stdin: string.Concat(Enumerable.Range(10, 5).Select(i => $"k{i}:v{i}\n")));

        var all = DetKafkaCli.RunChecked(["consume", topic, "-e", "-f", @"%t %p %o %k %s %h\n", .. B]).StdoutLines;
        Assert.Equal(15, all.Length);
        Assert.Equal($"{topic} 0 0 k0 v0 h=1", all[0]);
        Assert.Equal($"{topic} 0 14 k14 v14", all[14]);

        Assert.Equal(["5 v5", "6 v6", "7 v7"], DetKafkaCli.RunChecked(["consume", topic, "-o", "5", "-c", "3", "-f", @"%o %s\n", .. B]).StdoutLines);
        Assert.Equal(["12", "13", "14"], DetKafkaCli.RunChecked(["consume", topic, "-o", "-3", "-e", "-f", @"%o\n", .. B]).StdoutLines);
        Assert.Empty(DetKafkaCli.RunChecked(["consume", topic, "-o", "end", "-e", .. B]).StdoutLines);
        var fromTime = DetKafkaCli.RunChecked(["consume", topic, "-o", "@" + middle.ToString(CultureInfo.InvariantCulture), "-e", "-f", @"%o\n", .. B]).StdoutLines;
        Assert.Equal("10", fromTime[0]);
        Assert.Equal(15, DetKafkaCli.RunChecked(["consume", topic, "-o", "@" + before.ToString(CultureInfo.InvariantCulture), "-e", .. B]).StdoutLines.Length);

        var json = DetKafkaCli.RunChecked(["consume", topic, "-c", "1", "--format", "json", .. B]).JsonLines().Single();
        Assert.Equal("k0", json.GetProperty("key").GetString());
        Assert.Equal("v0", json.GetProperty("value").GetString());
        Assert.Equal("1", json.GetProperty("headers")[0].GetProperty("value").GetString());
    }

    [Fact]
    public void Produce_and_consume_more_records_than_the_client_buffers()
    {
        // 30,000 records: three times the consumer's record buffer and the producer's, so both must resume after
        // filling up (a consumer left unpolled with a full buffer would only fetch again at the next metadata refresh).
        const string topic = "cli-bulk";
        const int count = 30_000;
        DetKafkaCli.RunChecked(["topic", "create", topic, "-p", "3", .. B]);
        string input = string.Concat(Enumerable.Range(0, count).Select(i => $"key{i % 100}:v{i}\n"));
        Assert.Equal(count, DetKafkaCli.Json(["produce", topic, "-K:", .. B], input).GetProperty("produced").GetInt64());
        Assert.Equal(count, KcatRead(topic, @"%o\n").Count);
        var consumed = DetKafkaCli.RunChecked(["consume", topic, "-e", "-f", @"%k %s\n", .. B]).StdoutLines;
        Assert.Equal(count, consumed.Length);
        Assert.Equal(Enumerable.Range(0, count).Select(i => $"key{i % 100} v{i}").ToHashSet(), consumed.ToHashSet());
    }

    [Fact]
    public void Records_delete_moves_the_log_start_that_kcat_then_starts_from()
    {
        const string topic = "cli-records";
        DetKafkaCli.RunChecked(["topic", "create", topic, "-p", "1", .. B]);
        Clients.KcatRun(["-P", "-b", _broker.Bootstrap, "-t", topic], stdin: string.Concat(Enumerable.Range(0, 20).Select(i => $"v{i}\n")));
        var deleted = DetKafkaCli.Json(["records", "delete", topic, "--before", "12", .. B]);
        Assert.Equal(12, deleted[0].GetProperty("low_watermark").GetInt64());
        var offsets = KcatRead(topic, @"%o\n");
        Assert.Equal(Enumerable.Range(12, 8).Select(i => i.ToString(CultureInfo.InvariantCulture)), offsets);

        DetKafkaCli.RunChecked(["records", "delete", topic, "--before", "end", .. B]);
        Assert.Empty(KcatRead(topic, @"%o\n"));
    }

    [Fact]
    public void Cluster_info_names_the_broker_kcat_sees_and_the_apis_it_serves()
    {
        var info = DetKafkaCli.Json(["cluster", "info", .. B]);
        CommandResult metadata = Clients.KcatRun(["-L", "-J", "-b", _broker.Bootstrap]);
        using var doc = JsonDocument.Parse(metadata.Stdout);
        var kcatBroker = doc.RootElement.GetProperty("brokers")[0];
        var broker = info.GetProperty("brokers")[0];
        Assert.Equal(kcatBroker.GetProperty("id").GetInt32(), broker.GetProperty("id").GetInt32());
        Assert.Equal(kcatBroker.GetProperty("name").GetString(), $"{broker.GetProperty("host").GetString()}:{broker.GetProperty("port").GetInt32()}");
        Assert.Equal(broker.GetProperty("id").GetInt32(), info.GetProperty("controller").GetInt32());
        Assert.False(string.IsNullOrEmpty(info.GetProperty("cluster_id").GetString()));
        var apis = info.GetProperty("apis").EnumerateArray().ToDictionary(a => a.GetProperty("name").GetString()!, a => a.GetProperty("max_version").GetInt32());
        Assert.Equal(9, apis["Produce"]);
        Assert.Contains("DescribeCluster", apis.Keys);
        Assert.Contains("API VERSIONS", DetKafkaCli.RunChecked(["cluster", "info", .. B]).Stdout);
    }

    [Fact]
    public void Errors_exit_non_zero_with_one_clear_line()
    {
        int dead = BrokerProcess.FreeLoopbackPort();
        CommandResult unreachable = DetKafkaCli.Run(["topic", "list", "--brokers", $"127.0.0.1:{dead}"]);
        Assert.Equal(1, unreachable.ExitCode);
        Assert.Equal($"detkafka: cannot connect to broker 127.0.0.1:{dead}", unreachable.Stderr.Trim());

        foreach (var verb in new[] { new[] { "topic", "describe", "cli-no-such-topic" }, ["consume", "cli-no-such-topic"] })
        {
            CommandResult unknown = DetKafkaCli.Run([.. verb, .. B]);
            Assert.Equal(1, unknown.ExitCode);
            Assert.Equal("detkafka: topic 'cli-no-such-topic': UNKNOWN_TOPIC_OR_PARTITION (it does not exist)", unknown.Stderr.Trim());
        }
        Assert.DoesNotContain("cli-no-such-topic", KcatTopics().Keys);

        CommandResult usage = DetKafkaCli.Run(["topic", "create", .. B]);
        Assert.Equal(2, usage.ExitCode);
    }
}
