using System.Globalization;
using Confluent.Kafka;
using Xunit;

namespace DetKafka.Chaos;

/// <summary>
/// KIP-320 with a real client: Confluent.Kafka 2.16.0 (librdkafka 2.16.0) sees leader epochs in Metadata and, when
/// Metadata shows a newer leader epoch than the one of its position (here: the broker restarted, and leads the partition again in a new epoch), validates that position with OffsetForLeaderEpoch (API 23)
/// before fetching. The broker must answer from its epoch cache so that the client keeps its position and reads on
/// correctly. (kcat and confluent-kafka for python3 run on Debian's librdkafka 2.0.2, which predates KIP-320 and never
/// sends API 23: their consumption is covered by their own tests.)
/// </summary>
public sealed class LeaderEpochTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly BrokerProcess _broker = BrokerProcess.Start("leader-epoch", numPartitions: 1);

    private static readonly List<string> ClientLog = new();

    public void Dispose() => _broker.Dispose();

    [Fact]
    public async Task After_a_leader_epoch_change_the_position_is_validated_with_offset_for_leader_epoch_and_reads_on()
    {
        const string topic = "epoch-validate";
        const int count = 100;
        await Produce(topic, 0, count);
        var tp = new TopicPartition(topic, 0);
        using var consumer = Consumer("chaos-epoch-consumer");
        consumer.Assign(new TopicPartitionOffset(tp, Offset.Beginning));
        var first = ConsumeUntil(consumer, count);
        Assert.Equal(Enumerable.Range(0, count).Select(i => (long)i), first.Select(r => r.Offset.Value));
        // Every batch was written in epoch 0, and the client learnt that from the batches it read.
        Assert.All(first, r => Assert.Equal(0, r.LeaderEpoch));

        // The broker restarts and leads the partition again in epoch 1. The client's metadata shows the new epoch,
        // so librdkafka validates its position (offset 100, epoch 0) with OffsetForLeaderEpoch before it fetches
        // again; the answer (epoch 0 ends at offset 100) keeps its position.
        int port = _broker.Port;
        Assert.Equal(0, _broker.StopGracefully());
        _broker.Restart();
        Assert.True(port == _broker.Port, $"the broker came back on port {_broker.Port}, not {port}: the client cannot follow");
        await Produce(topic, count, 50);
        var rest = ConsumeUntil(consumer, 50);
        consumer.Close();
        Assert.Equal(Enumerable.Range(count, 50).Select(i => (long)i), rest.Select(r => r.Offset.Value));
        Assert.Equal(Enumerable.Range(count, 50).Select(i => "v" + i.ToString(CultureInfo.InvariantCulture)), rest.Select(r => r.Message.Value));
        Assert.All(rest, r => Assert.Equal(1, r.LeaderEpoch));

        lock (ClientLog) File.WriteAllLines(_broker.LogPath + ".client", ClientLog);
        Assert.True(_broker.WaitForLog("OffsetForLeaderEpoch v", TimeSpan.FromSeconds(10)),
            $"the broker never served OffsetForLeaderEpoch:\n{string.Join('\n', ClientLog.Where(l => l.Contains("VALID", StringComparison.Ordinal) || l.Contains("epoch", StringComparison.OrdinalIgnoreCase)).Take(40))}\n{_broker.LogTail()}");
        _broker.AssertAlive("after the leader-epoch validation");
    }

    private async Task Produce(string topic, int from, int count)
    {
        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig
        {
            BootstrapServers = _broker.Bootstrap,
            ClientId = "chaos-epoch-producer",
            Acks = Acks.All,
            LingerMs = 0,
        }).Build();
        for (int i = from; i < from + count; i++)
        {
            var result = await producer.ProduceAsync(topic, new Message<Null, string> { Value = "v" + i.ToString(CultureInfo.InvariantCulture) });
            Assert.Equal(i, result.Offset.Value);
        }
    }

    private IConsumer<Ignore, string> Consumer(string clientId) => new ConsumerBuilder<Ignore, string>(new ConsumerConfig
    {
        BootstrapServers = _broker.Bootstrap,
        ClientId = clientId,
        GroupId = "unused-no-commits",
        EnableAutoCommit = false,
        EnableAutoOffsetStore = false,
        Debug = "fetch,topic",
    }).SetLogHandler((_, m) => { lock (ClientLog) ClientLog.Add(m.Message); }).Build();

    private static List<ConsumeResult<Ignore, string>> ConsumeUntil(IConsumer<Ignore, string> consumer, int count)
    {
        var received = new List<ConsumeResult<Ignore, string>>();
        var deadline = DateTime.UtcNow + Timeout;
        while (received.Count < count && DateTime.UtcNow < deadline)
        {
            var r = consumer.Consume(TimeSpan.FromMilliseconds(500));
            if (r is not null && !r.IsPartitionEOF) received.Add(r);
        }
        return received;
    }
}
