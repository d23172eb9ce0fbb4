using System.Globalization;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Xunit;

namespace DetKafka.Chaos;

/// <summary>Confluent.Kafka, the .NET client (NuGet 2.16.0 on librdkafka.redist 2.16.0), against the real broker
/// process: producing with acks=all, consuming by assignment, and topic administration through its AdminClient.</summary>
public sealed class DotNetClientTests(BrokerFixture fixture) : IClassFixture<BrokerFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly BrokerProcess _broker = fixture.Broker;

    private IAdminClient Admin() => new AdminClientBuilder(new AdminClientConfig
    {
        BootstrapServers = _broker.Bootstrap,
        ClientId = "chaos-dotnet-admin",
        SocketTimeoutMs = 30_000,
    }).Build();

    [Fact]
    public async Task AdminClient_creates_describes_and_deletes_a_topic()
    {
        const string topic = "dotnet-admin";
        using var admin = Admin();
        await admin.CreateTopicsAsync(
            [new TopicSpecification { Name = topic, NumPartitions = 4, ReplicationFactor = 1, Configs = new() { ["retention.ms"] = "7200000" } }],
            new CreateTopicsOptions { RequestTimeout = Timeout, OperationTimeout = Timeout });

        var metadata = admin.GetMetadata(topic, Timeout);
        var described = Assert.Single(metadata.Topics);
        Assert.Equal(ErrorCode.NoError, described.Error.Code);
        Assert.Equal(4, described.Partitions.Count);
        Assert.All(described.Partitions, p => Assert.Equal(metadata.Brokers.Single().BrokerId, p.Leader));

        var configs = await admin.DescribeConfigsAsync([new ConfigResource { Type = ResourceType.Topic, Name = topic }],
            new DescribeConfigsOptions { RequestTimeout = Timeout });
        var entries = configs.Single().Entries;
        Assert.Equal("7200000", entries["retention.ms"].Value);
        Assert.False(entries["retention.ms"].IsDefault);

        var resource = new ConfigResource { Type = ResourceType.Topic, Name = topic };
        var change = new ConfigEntry { Name = "retention.ms", Value = "60000", IncrementalOperation = AlterConfigOpType.Set };
        await admin.IncrementalAlterConfigsAsync(new Dictionary<ConfigResource, List<ConfigEntry>> { [resource] = [change] },
            new IncrementalAlterConfigsOptions { RequestTimeout = Timeout });
        configs = await admin.DescribeConfigsAsync([new ConfigResource { Type = ResourceType.Topic, Name = topic }],
            new DescribeConfigsOptions { RequestTimeout = Timeout });
        Assert.Equal("60000", configs.Single().Entries["retention.ms"].Value);

        var duplicate = await Assert.ThrowsAsync<CreateTopicsException>(() => admin.CreateTopicsAsync(
            [new TopicSpecification { Name = topic, NumPartitions = 1, ReplicationFactor = 1 }],
            new CreateTopicsOptions { RequestTimeout = Timeout }));
        Assert.Equal(ErrorCode.TopicAlreadyExists, duplicate.Results.Single().Error.Code);

        await admin.DeleteTopicsAsync([topic], new DeleteTopicsOptions { RequestTimeout = Timeout, OperationTimeout = Timeout });
        var all = admin.GetMetadata(Timeout);
        Assert.DoesNotContain(all.Topics, t => t.Topic == topic);
        _broker.AssertAlive("after Confluent.Kafka admin operations");
    }

    [Fact]
    public async Task Producer_with_acks_all_and_an_assigned_consumer_round_trip_every_record()
    {
        const string topic = "dotnet-produce-consume";
        const int count = 1000;
        using (var admin = Admin())
            await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 3, ReplicationFactor = 1 }],
                new CreateTopicsOptions { RequestTimeout = Timeout });

        var acked = new List<DeliveryResult<string, string>>();
        using (var producer = new ProducerBuilder<string, string>(new ProducerConfig
               {
                   BootstrapServers = _broker.Bootstrap,
                   ClientId = "chaos-dotnet-producer",
                   Acks = Acks.All,
                   EnableIdempotence = false,
                   LingerMs = 5,
                   MessageTimeoutMs = 30_000,
               }).Build())
        {
            var pending = new List<Task<DeliveryResult<string, string>>>();
            for (int i = 0; i < count; i++)
            {
                var message = new Message<string, string>
                {
                    Key = "key" + (i % 10).ToString(CultureInfo.InvariantCulture),
                    Value = "value-" + i.ToString(CultureInfo.InvariantCulture),
                    Headers = new Headers { { "seq", BitConverter.GetBytes(i) } },
                };
                pending.Add(producer.ProduceAsync(topic, message));
            }
            producer.Flush(Timeout);
            foreach (var task in pending) acked.Add(await task);
        }
        Assert.Equal(count, acked.Count);
        Assert.All(acked, a => Assert.Equal(PersistenceStatus.Persisted, a.Status));
        Assert.Equal(count, acked.Select(a => (a.Partition.Value, a.Offset.Value)).Distinct().Count());
        // The default partitioner keeps a key on one partition.
        foreach (var g in acked.GroupBy(a => a.Message.Key)) Assert.Single(g.Select(a => a.Partition.Value).Distinct());

        using var consumer = new ConsumerBuilder<string, string>(new ConsumerConfig
        {
            BootstrapServers = _broker.Bootstrap,
            ClientId = "chaos-dotnet-consumer",
            GroupId = "unused-no-commits",
            EnableAutoCommit = false,
            EnableAutoOffsetStore = false,
        }).Build();
        consumer.Assign(Enumerable.Range(0, 3).Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
        var received = new List<ConsumeResult<string, string>>();
        var deadline = DateTime.UtcNow + Timeout;
        while (received.Count < count && DateTime.UtcNow < deadline)
        {
            var r = consumer.Consume(TimeSpan.FromMilliseconds(500));
            if (r is not null && !r.IsPartitionEOF) received.Add(r);
        }
        consumer.Close();

        Assert.Equal(count, received.Count);
        Assert.Equal(acked.Select(a => (a.Partition.Value, a.Offset.Value, a.Message.Value)).ToHashSet(),
            received.Select(r => (r.Partition.Value, r.Offset.Value, r.Message.Value)).ToHashSet());
        foreach (var p in received.GroupBy(r => r.Partition.Value))
        {
            long[] offsets = p.Select(r => r.Offset.Value).ToArray();
            Assert.Equal(Enumerable.Range(0, offsets.Length).Select(i => (long)i), offsets);
        }
        Assert.All(received, r => Assert.Equal(int.Parse(r.Message.Value["value-".Length..], CultureInfo.InvariantCulture),
            BitConverter.ToInt32(r.Message.Headers.GetLastBytes("seq"))));
        _broker.AssertAlive("after the Confluent.Kafka round trip");
    }
}
