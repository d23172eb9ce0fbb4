using System.Text.Json;
using Xunit;

namespace DetKafka.Chaos;

/// <summary>
/// kafkajs 2.2.4 (npm): the admin client creates a topic and reads its offsets; an acks=all producer sends keyed
/// records, and kcat reads them back. kafkajs group consumers are in GroupTests.
/// </summary>
public sealed class KafkaJsTests(BrokerFixture fixture) : IClassFixture<BrokerFixture>
{
    private readonly BrokerProcess _broker = fixture.Broker;

    [Fact]
    public void Admin_and_acks_all_producer_work_and_every_record_reads_back()
    {
        const string topic = "kjs-topic";
        const int count = 3_000;
        string script = Path.Combine(RepoPaths.Root, "tests", "chaos", "clients", "node", "kjs_produce.js");
        CommandResult run = Clients.RunChecked("node", [script, _broker.Bootstrap, topic, "2", count.ToString()], TimeSpan.FromSeconds(90));
        var lines = run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.True(lines.Single(l => l.GetProperty("type").GetString() == "create").GetProperty("created").GetBoolean(), run.Stdout);
        var acks = lines.Where(l => l.GetProperty("type").GetString() == "ack").ToList();
        Assert.NotEmpty(acks);
        Assert.All(acks, a => Assert.Equal(0, a.GetProperty("errorCode").GetInt32()));
        var offsets = lines.Where(l => l.GetProperty("type").GetString() == "offsets").ToList();
        Assert.Equal(2, offsets.Count);
        Assert.All(offsets, o => Assert.Equal(0, o.GetProperty("low").GetInt64()));
        Assert.Equal(count, offsets.Sum(o => o.GetProperty("high").GetInt64()));

        CommandResult consumed = Clients.KcatRun(["-C", "-b", _broker.Bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k %s\\n"], TimeSpan.FromSeconds(60));
        var records = consumed.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')).ToList();
        Assert.Equal(count, records.Count);
        Assert.All(records, r => Assert.Equal("kjs-" + r[0][1..], r[1]));
        Assert.Equal(count, records.Select(r => r[0]).Distinct().Count());
    }
}
