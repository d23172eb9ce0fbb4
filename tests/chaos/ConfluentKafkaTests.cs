using System.Globalization;
using Xunit;

namespace DetKafka.Chaos;

/// <summary>confluent-kafka 1.7.0 (Debian's python3-confluent-kafka on librdkafka 2.0.2).</summary>
public sealed class ConfluentKafkaTests(ThreePartitionBrokerFixture fixture) : IClassFixture<ThreePartitionBrokerFixture>
{
    private readonly BrokerProcess _broker = fixture.Broker;

    [Fact]
    public void Producer_delivers_everything_and_assigned_consumer_reads_it_back()
    {
        const string topic = "ck-produce-consume";
        const int count = 2000;
        CommandResult produced = Clients.PythonScript("ck_produce.py",
            [_broker.Bootstrap, topic, count.ToString(CultureInfo.InvariantCulture), "ck"]);
        var acks = ClientRecord.OfType(produced, "ack");
        Assert.Equal(count, acks.Count);
        Assert.Equal(count, acks.Select(a => (a.Partition, a.Offset)).Distinct().Count());
        Assert.All(acks, a => Assert.InRange(a.Partition, 0, 2));

        CommandResult consumed = Clients.PythonScript("ck_consume.py", [_broker.Bootstrap, topic]);
        var records = ClientRecord.OfType(consumed, "record");
        Assert.Equal(count, records.Count);
        var byPartition = LogAssert.ContiguousFromZero(records);
        LogAssert.AcknowledgedArePresent(acks, records);

        // Every key lives in one partition and its sequence numbers rise along the log.
        foreach (var group in records.GroupBy(r => r.Key))
            Assert.Single(group.Select(r => r.Partition).Distinct());
        foreach (var (partition, list) in byPartition)
        {
            long[] seqs = list.Select(r => LogAssert.Sequence(r.Value)).ToArray();
            Assert.True(seqs.Zip(seqs.Skip(1)).All(p => p.First < p.Second),
                $"partition {partition}: sequence numbers out of order: {string.Join(',', seqs.Take(50))}");
        }
    }
}
