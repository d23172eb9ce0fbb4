using System.Globalization;
using System.Text.Json;
using Xunit;

namespace DetKafka.Chaos;

/// <summary>kafka-python 2.0.2 (Debian's python3-kafka): admin, producer and group-less consumer.</summary>
public sealed class KafkaPythonTests(BrokerFixture fixture) : IClassFixture<BrokerFixture>
{
    private readonly BrokerProcess _broker = fixture.Broker;

    [Fact]
    public void Admin_creates_describes_and_deletes_a_topic()
    {
        const string topic = "kp-admin-topic";
        CommandResult created = Clients.PythonScript("kp_admin.py",
            [_broker.Bootstrap, "create", topic, "2", "retention.ms=123456789", "cleanup.policy=delete"]);
        JsonElement create = Single(created, "create");
        Assert.Equal(topic, create.GetProperty("topic_errors")[0][0].GetString());
        Assert.Equal(0, create.GetProperty("topic_errors")[0][1].GetInt32());

        Assert.Contains(topic, Topics());

        CommandResult described = Clients.PythonScript("kp_admin.py", [_broker.Bootstrap, "describe", topic]);
        JsonElement describe = Single(described, "describe");
        Assert.Equal(0, describe.GetProperty("error_code").GetInt32());
        Assert.Equal(topic, describe.GetProperty("resource_name").GetString());
        var configs = describe.GetProperty("configs").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString());
        Assert.True(configs.TryGetValue("retention.ms", out var retention),
            $"retention.ms missing from DescribeConfigs: {described.Stdout}");
        Assert.Equal("123456789", retention);
        Assert.True(configs.TryGetValue("cleanup.policy", out var policy), $"cleanup.policy missing: {described.Stdout}");
        Assert.Equal("delete", policy);

        CommandResult deleted = Clients.PythonScript("kp_admin.py", [_broker.Bootstrap, "delete", topic]);
        JsonElement delete = Single(deleted, "delete");
        Assert.Equal(0, delete.GetProperty("topic_errors")[0][1].GetInt32());

        // Deletion may finish asynchronously in Kafka; allow a short, bounded wait.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        List<string> topics = Topics();
        while (topics.Contains(topic) && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(200);
            topics = Topics();
        }
        Assert.DoesNotContain(topic, topics);
        _broker.AssertAlive("after admin operations");
    }

    [Fact]
    public void Producer_with_acks_all_then_assigned_consumer_reads_everything_in_order()
    {
        const string topic = "kp-produce-consume";
        const int count = 500;
        CommandResult produced = Clients.PythonScript("kp_produce.py",
            [_broker.Bootstrap, topic, count.ToString(CultureInfo.InvariantCulture), "kp"]);
        var acks = ClientRecord.OfType(produced, "ack");
        Assert.Equal(count, acks.Count);
        Assert.Equal(count, acks.Select(a => (a.Partition, a.Offset)).Distinct().Count());

        CommandResult consumed = Clients.PythonScript("kp_consume.py", [_broker.Bootstrap, topic]);
        var records = ClientRecord.OfType(consumed, "record");
        Assert.Equal(count, records.Count);
        var byPartition = LogAssert.ContiguousFromZero(records);
        LogAssert.AcknowledgedArePresent(acks, records);
        // Within a partition, the log order is the order the producer sent (sequence numbers increase).
        foreach (var (partition, list) in byPartition)
        {
            long[] seqs = list.Select(r => LogAssert.Sequence(r.Value)).ToArray();
            Assert.True(seqs.Zip(seqs.Skip(1)).All(p => p.First < p.Second),
                $"partition {partition}: sequence numbers out of order: {string.Join(',', seqs.Take(50))}");
        }
    }

    private List<string> Topics()
    {
        CommandResult r = Clients.PythonScript("kp_admin.py", [_broker.Bootstrap, "topics"]);
        return Single(r, "topics").GetProperty("topics").EnumerateArray().Select(t => t.GetString()!).ToList();
    }

    private static JsonElement Single(CommandResult r, string op)
    {
        var lines = r.JsonLines().Where(e => e.GetProperty("op").GetString() == op).ToList();
        Assert.True(lines.Count == 1, $"expected one '{op}' line: {r.Describe()}");
        return lines[0];
    }
}
