using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Xunit;

namespace DetKafka.Chaos;

/// <summary>
/// Confluent.Kafka (2.16.0) with consumer groups and idempotence against the real broker: a subscribed consumer
/// in a group reads a topic and commits, a second consumer of the same group resumes after the commit, the admin
/// client and the CLI report the same committed offsets; an idempotent producer writes each record once.
/// </summary>
public sealed class DotNetGroupTests(ThreePartitionBrokerFixture fixture) : IClassFixture<ThreePartitionBrokerFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly BrokerProcess _broker = fixture.Broker;

    private void Produce(string topic, int from, int count, bool idempotent = false)
    {
        using var producer = new ProducerBuilder<string, string>(new ProducerConfig
        {
            BootstrapServers = _broker.Bootstrap,
            ClientId = "chaos-dotnet-producer",
            Acks = Acks.All,
            EnableIdempotence = idempotent,
        }).Build();
        for (int i = from; i < from + count; i++)
            producer.Produce(topic, new Message<string, string> { Key = "k" + i % 9, Value = "dotnet-" + i });
        Assert.Equal(0, producer.Flush(Timeout));
    }

    /// <summary>Subscribes in <paramref name="group"/> and reads until <paramref name="count"/> records arrived,
    /// committing after each (commit-after-process), then leaves the group.</summary>
    private List<ConsumeResult<string, string>> ConsumeInGroup(string topic, string group, int count)
    {
        using var consumer = new ConsumerBuilder<string, string>(new ConsumerConfig
        {
            BootstrapServers = _broker.Bootstrap,
            GroupId = group,
            ClientId = "chaos-dotnet-group",
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
            SessionTimeoutMs = 10_000,
        }).Build();
        consumer.Subscribe(topic);
        var seen = new List<ConsumeResult<string, string>>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (seen.Count < count && DateTime.UtcNow < deadline)
        {
            var r = consumer.Consume(TimeSpan.FromMilliseconds(500));
            if (r is null || r.IsPartitionEOF) continue;
            seen.Add(r);
            consumer.Commit(r);
        }
        consumer.Close();
        return seen;
    }

    [Fact]
    public async Task A_group_consumer_commits_and_the_next_one_resumes_after_its_commits()
    {
        const string topic = "dotnet-group", group = "dotnet-group-g";
        Produce(topic, 0, 60);
        var first = ConsumeInGroup(topic, group, 25);
        Assert.Equal(25, first.Count);

        // The admin client and the CLI see the commits.
        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _broker.Bootstrap }).Build())
        {
            var listed = await admin.ListConsumerGroupOffsetsAsync([new ConsumerGroupTopicPartitions(group, null)],
                new ListConsumerGroupOffsetsOptions { RequestTimeout = Timeout });
            var committed = listed.Single().Partitions.Where(p => p.Offset.Value >= 0).ToDictionary(p => p.Partition.Value, p => p.Offset.Value);
            Assert.Equal(25, committed.Values.Sum()); // each partition read from 0 and committed after each record
            var cli = DetKafkaCli.Json(["group", "describe", group, "--brokers", _broker.Bootstrap]);
            long lag = 0;
            foreach (var p in cli.GetProperty("partitions").EnumerateArray())
            {
                int partition = p.GetProperty("partition").GetInt32();
                if (p.GetProperty("current_offset").ValueKind == System.Text.Json.JsonValueKind.Null)
                {
                    Assert.False(committed.ContainsKey(partition), $"partition {partition} has a commit the CLI did not show");
                    continue;
                }
                Assert.Equal(committed[partition], p.GetProperty("current_offset").GetInt64());
                long expected = p.GetProperty("log_end_offset").GetInt64() - committed[partition];
                Assert.Equal(expected, p.GetProperty("lag").GetInt64());
                lag += expected;
            }
            Assert.Equal(lag, cli.GetProperty("total_lag").GetInt64());
        }

        var second = ConsumeInGroup(topic, group, 35);
        Assert.Equal(35, second.Count);
        var all = first.Concat(second).Select(r => r.Message.Value).ToList();
        Assert.Equal(60, all.Distinct().Count()); // nothing read twice, nothing missed
        _broker.AssertAlive("after the .NET group consumers");
    }

    [Fact]
    public void An_idempotent_dotnet_producer_writes_each_record_once()
    {
        const string topic = "dotnet-idempotent";
        Produce(topic, 0, 2_000, idempotent: true);
        var values = Clients.KcatRun(["-C", "-b", _broker.Bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%s\\n"],
            TimeSpan.FromSeconds(60)).StdoutLines.ToList();
        Assert.Equal(2_000, values.Count);
        Assert.Equal(2_000, values.Distinct().Count());
    }
}
