using System.Globalization;
using System.Text.Json;
using Confluent.Kafka;
using Xunit;
using Xunit.Abstractions;

namespace DetKafka.Chaos;

/// <summary>
/// Transactions with the real clients against the real broker process (TRANSACTIONS.md): confluent-kafka (librdkafka
/// 2.0.2) and Confluent.Kafka (librdkafka 2.16) commit and abort, and a read_committed consumer sees exactly the
/// committed records; consume-transform-produce loops commit their input offsets in the transaction
/// (send_offsets_to_transaction / SendOffsetsToTransaction); a second instance with the same transactional.id
/// fences the first; kafkajs commits, aborts and sends offsets. kafka-python 2.0.2 has no transactions and no
/// isolation level: it reads aborted records and hands the markers to the application.
/// </summary>
public sealed class TransactionTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly BrokerProcess _broker = BrokerProcess.Start("transactions", numPartitions: 2);

    private List<ClientRecord> PythonConsume(string topic, string isolation)
        => ClientRecord.OfType(Clients.PythonScript("ck_txn.py", ["consume", _broker.Bootstrap, topic, isolation], TimeSpan.FromSeconds(90)), "record");

    [Fact]
    public void Confluent_kafka_commits_and_aborts_and_read_committed_sees_exactly_the_committed()
    {
        const string topic = "txn-ck";
        var run = Clients.PythonScript("ck_txn.py", ["produce", _broker.Bootstrap, topic, "ck-tx"], TimeSpan.FromSeconds(120));
        Assert.Equal(["commit", "abort", "commit"], run.JsonLines().Select(l => l.GetProperty("result").GetString()));

        var committed = PythonConsume(topic, "read_committed");
        var expected = new[] { "c", "d" }.SelectMany(prefix => Enumerable.Range(0, 2).SelectMany(p => Enumerable.Range(0, 10).Select(i => $"{prefix}-{p}-{i}")));
        Assert.Equal(expected.OrderBy(v => v, StringComparer.Ordinal), committed.Select(r => r.Value!).OrderBy(v => v, StringComparer.Ordinal));
        // read_uncommitted sees the aborted ones too (markers are never delivered by librdkafka).
        var all = PythonConsume(topic, "read_uncommitted");
        Assert.Equal(60, all.Count);
        Assert.Equal(20, all.Count(r => r.Value!.StartsWith("a-", StringComparison.Ordinal)));
        _broker.AssertAlive("after confluent-kafka transactions");
    }

    [Fact]
    public void A_confluent_kafka_zombie_with_the_same_transactional_id_is_fenced()
    {
        const string topic = "txn-zombie";
        var run = Clients.PythonScript("ck_txn.py", ["zombie", _broker.Bootstrap, topic, "zombie-tx"], TimeSpan.FromSeconds(120));
        var lines = run.JsonLines();
        var first = lines.Single(l => l.GetProperty("who").GetString() == "first");
        Assert.Equal("failed", first.GetProperty("result").GetString());
        Assert.True(first.GetProperty("fatal").GetBoolean(), first.ToString());
        Assert.Equal("_FENCED", first.GetProperty("code").GetString());
        Assert.Equal("committed", lines.Single(l => l.GetProperty("who").GetString() == "second").GetProperty("result").GetString());
        // Only the second instance's record is visible; the zombie's open transaction was aborted.
        Assert.Equal(["second"], PythonConsume(topic, "read_committed").Select(r => r.Value));
    }

    [Fact]
    public void Confluent_kafka_consume_transform_produce_commits_each_input_once()
    {
        SeedInput("txn-ctp-in", 50);
        var run = Clients.PythonScript("ck_txn.py", ["ctp", _broker.Bootstrap, "txn-ctp-in", "txn-ctp-out", "ctp-tx", "ctp-group"], TimeSpan.FromSeconds(150));
        var steps = run.JsonLines();
        Assert.Equal("abort", steps[0].GetProperty("result").GetString());
        Assert.Equal(50, steps.Where(s => s.GetProperty("result").GetString() == "commit").Sum(s => s.GetProperty("count").GetInt32()));
        var outValues = PythonConsume("txn-ctp-out", "read_committed").Select(r => r.Value!).OrderBy(v => v, StringComparer.Ordinal).ToList();
        Assert.Equal(Enumerable.Range(0, 50).Select(i => $"V{i}").OrderBy(v => v, StringComparer.Ordinal), outValues);
        Assert.Equal(new long[] { 25, 25 }, Committed("ctp-group", "txn-ctp-in", 2));
    }

    [Fact]
    public void Confluent_kafka_dotnet_transactions_and_send_offsets_in_a_consume_transform_produce_loop()
    {
        const string input = "txn-net-in", outputTopic = "txn-net-out", group = "net-ctp";
        SeedInput(input, 40);
        using (var producer = TransactionalProducer("net-tx"))
        {
            producer.InitTransactions(Timeout);
            producer.BeginTransaction();
            producer.Produce(new TopicPartition(outputTopic, 0), new Message<Null, string> { Value = "aborted" });
            producer.Flush(Timeout);
            producer.AbortTransaction(Timeout);

            using var consumer = new ConsumerBuilder<Null, string>(new ConsumerConfig
            {
                BootstrapServers = _broker.Bootstrap, GroupId = group, EnableAutoCommit = false,
                AutoOffsetReset = AutoOffsetReset.Earliest, IsolationLevel = IsolationLevel.ReadCommitted, ClientId = "chaos-net-ctp",
            }).Build();
            consumer.Subscribe(input);
            int processed = 0;
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (processed < 40 && DateTime.UtcNow < deadline)
            {
                var batch = new List<ConsumeResult<Null, string>>();
                for (var r = consumer.Consume(TimeSpan.FromSeconds(1)); r is not null; r = consumer.Consume(TimeSpan.FromMilliseconds(100)))
                {
                    if (!r.IsPartitionEOF) batch.Add(r);
                    if (batch.Count == 10) break;
                }
                if (batch.Count == 0) continue;
                producer.BeginTransaction();
                foreach (var r in batch)
                    producer.Produce(new TopicPartition(outputTopic, r.Partition.Value), new Message<Null, string> { Value = r.Message.Value.ToUpperInvariant() });
                var offsets = batch.GroupBy(r => r.TopicPartition).Select(g => new TopicPartitionOffset(g.Key, g.Max(r => r.Offset.Value) + 1)).ToList();
                producer.SendOffsetsToTransaction(offsets, consumer.ConsumerGroupMetadata, Timeout);
                producer.CommitTransaction(Timeout);
                processed += batch.Count;
            }
            Assert.Equal(40, processed);
            consumer.Close();
        }
        var values = ReadCommittedDotNet(outputTopic);
        Assert.Equal(Enumerable.Range(0, 40).Select(i => $"V{i}").OrderBy(v => v, StringComparer.Ordinal), values.OrderBy(v => v, StringComparer.Ordinal));
        Assert.Equal(new long[] { 20, 20 }, Committed(group, input, 2));
    }

    [Fact]
    public void A_confluent_kafka_dotnet_zombie_is_fenced()
    {
        const string topic = "txn-net-zombie";
        using var zombie = TransactionalProducer("net-zombie");
        zombie.InitTransactions(Timeout);
        zombie.BeginTransaction();
        zombie.Produce(new TopicPartition(topic, 0), new Message<Null, string> { Value = "zombie" });
        zombie.Flush(Timeout);
        using var fresh = TransactionalProducer("net-zombie");
        fresh.InitTransactions(Timeout);
        fresh.BeginTransaction();
        fresh.Produce(new TopicPartition(topic, 0), new Message<Null, string> { Value = "fresh" });
        fresh.CommitTransaction(Timeout);
        var e = Assert.ThrowsAny<KafkaException>(() =>
        {
            zombie.Produce(new TopicPartition(topic, 0), new Message<Null, string> { Value = "zombie-late" });
            zombie.CommitTransaction(Timeout);
        });
        output.WriteLine($"zombie: {e.Error.Code} fatal={e.Error.IsFatal} {e.Error.Reason}");
        Assert.True(e.Error.IsFatal || e.Error.Code is ErrorCode.ProducerFenced or ErrorCode.InvalidProducerEpoch or ErrorCode.Local_Fenced, e.Error.ToString());
        Assert.Equal(["fresh"], ReadCommittedDotNet(topic));
    }

    [Fact]
    public void Kafkajs_commits_aborts_and_sends_offsets()
    {
        string script = Path.Combine(RepoPaths.Root, "tests", "chaos", "clients", "node", "kjs_txn.js");
        CommandResult run = Clients.RunChecked("node", [script, _broker.Bootstrap, "txn-kjs", "1", "kjs-tx", "kjs-group"], TimeSpan.FromSeconds(120));
        var lines = run.JsonLines();
        Assert.Equal(["commit", "abort", "commit"], lines.Where(l => l.GetProperty("type").GetString() == "txn").Select(l => l.GetProperty("result").GetString()));
        Assert.Equal(5, lines.Single(l => l.GetProperty("type").GetString() == "committed").GetProperty("offset").GetInt64());
        var read = lines.Where(l => l.GetProperty("type").GetString() == "record").Select(l => l.GetProperty("value").GetString()!).ToList();
        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"c-{i}").Concat(Enumerable.Range(0, 10).Select(i => $"d-{i}")), read);
    }

    [Fact]
    public void Kafka_python_has_no_isolation_level_and_reads_aborted_data_and_markers()
    {
        const string topic = "txn-kp";
        Clients.PythonScript("ck_txn.py", ["produce", _broker.Bootstrap, topic, "kp-tx"], TimeSpan.FromSeconds(120));
        var records = ClientRecord.OfType(Clients.PythonScript("kp_consume.py", [_broker.Bootstrap, topic], TimeSpan.FromSeconds(90)), "record");
        // 60 data records (aborted ones included: kafka-python 2.0.2 always fetches read_uncommitted) and the six
        // markers, handed over as records whose key is the control key (version 0, type 0 abort / 1 commit).
        Assert.Equal(60, records.Count(r => r.Value!.Length > 0 && r.Value[0] is 'a' or 'c' or 'd'));
        var markers = records.Where(r => r.Key is { Length: 4 } k && k[0] == '\0').ToList();
        Assert.Equal(6, markers.Count);
        Assert.Equal(2, markers.Count(m => m.Key![3] == '\0'));
    }

    private IProducer<Null, string> TransactionalProducer(string id) => new ProducerBuilder<Null, string>(new ProducerConfig
    {
        BootstrapServers = _broker.Bootstrap, TransactionalId = id, ClientId = "chaos-net-" + id, TransactionTimeoutMs = 30_000,
    }).Build();

    private void SeedInput(string topic, int count)
    {
        using var p = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = _broker.Bootstrap, Acks = Acks.All }).Build();
        for (int i = 0; i < count; i++) p.Produce(new TopicPartition(topic, i % 2), new Message<Null, string> { Value = $"v{i}" });
        Assert.Equal(0, p.Flush(Timeout));
    }

    private List<string> ReadCommittedDotNet(string topic)
    {
        using var c = new ConsumerBuilder<Null, string>(new ConsumerConfig
        {
            BootstrapServers = _broker.Bootstrap, GroupId = "chaos-net-reader-" + topic, EnableAutoCommit = false,
            IsolationLevel = IsolationLevel.ReadCommitted, EnablePartitionEof = true,
        }).Build();
        var parts = Enumerable.Range(0, 2).Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)).ToList();
        c.Assign(parts);
        var values = new List<string>();
        var eof = new HashSet<int>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (eof.Count < parts.Count && DateTime.UtcNow < deadline)
        {
            var r = c.Consume(TimeSpan.FromMilliseconds(500));
            if (r is null) continue;
            if (r.IsPartitionEOF) eof.Add(r.Partition.Value);
            else
            {
                eof.Remove(r.Partition.Value);
                values.Add(r.Message.Value);
            }
        }
        Assert.Equal(parts.Count, eof.Count);
        return values;
    }

    private long[] Committed(string group, string topic, int partitions)
    {
        using var c = new ConsumerBuilder<Null, string>(new ConsumerConfig { BootstrapServers = _broker.Bootstrap, GroupId = group }).Build();
        var tps = Enumerable.Range(0, partitions).Select(p => new TopicPartition(topic, p)).ToList();
        return c.Committed(tps, Timeout).OrderBy(o => o.Partition.Value).Select(o => o.Offset.Value).ToArray();
    }

    public void Dispose() => _broker.Dispose();
}
