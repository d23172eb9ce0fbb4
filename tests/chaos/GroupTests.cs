using System.Globalization;
using System.Text.Json;
using Xunit;

namespace DetKafka.Chaos;

/// <summary>
/// Consumer groups and committed offsets with the real clients: kcat -G (librdkafka 2.0.2), kafka-python 2.0.2,
/// confluent-kafka for /usr/bin/python3 (librdkafka 2.0.2) and kafkajs 2.2.4 against the real broker process.
/// </summary>
public sealed class GroupTests(ThreePartitionBrokerFixture fixture) : IClassFixture<ThreePartitionBrokerFixture>
{
    private readonly BrokerProcess _broker = fixture.Broker;

    private static string Lines(string prefix, int from, int count)
        => string.Concat(Enumerable.Range(from, count).Select(i => $"{prefix}-{i.ToString(CultureInfo.InvariantCulture)}\n"));

    private static List<string> KcatGroupConsume(BrokerProcess broker, string group, string topic)
    {
        // -e exits once every assigned partition reached its end; the group's commits are made on close.
        CommandResult r = Clients.KcatRun(["-b", broker.Bootstrap, "-G", group, "-X", "auto.offset.reset=earliest",
            "-X", "enable.auto.commit=true", "-e", "-q", "-f", "%s\\n", topic], TimeSpan.FromSeconds(90));
        return r.StdoutLines.ToList();
    }

    [Fact]
    public void Kcat_group_consumes_a_topic_and_resumes_where_it_left_off_after_a_broker_restart()
    {
        using var broker = BrokerProcess.Start("kcat-group", numPartitions: 3);
        const string topic = "kcat-group", group = "kcat-g";
        Clients.KcatRun(["-P", "-b", broker.Bootstrap, "-t", topic], stdin: Lines("a", 0, 30));

        var first = KcatGroupConsume(broker, group, topic);
        Assert.Equal(Enumerable.Range(0, 30).Select(i => $"a-{i}").Order(), first.Order());

        broker.Kill9();
        broker.Restart();
        Clients.KcatRun(["-P", "-b", broker.Bootstrap, "-t", topic], stdin: Lines("b", 0, 10));

        // Only the records after the commits come back: the commits survived the SIGKILL.
        var second = KcatGroupConsume(broker, group, topic);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"b-{i}").Order(), second.Order());
        broker.AssertAlive("after the kcat group consumers");
    }

    [Fact]
    public void KafkaPython_group_consumer_commits_is_restarted_and_continues_from_its_commit_and_admin_reports_the_offsets()
    {
        const string topic = "kp-group", group = "kp-g";
        Clients.KcatRun(["-P", "-b", _broker.Bootstrap, "-t", topic, "-K:"],
            stdin: string.Concat(Enumerable.Range(0, 60).Select(i => $"k{i % 7}:v-{i}\n")));

        var first = ClientRecord.OfType(Clients.PythonScript("kp_group.py", [_broker.Bootstrap, topic, group, "25"], TimeSpan.FromSeconds(90)), "record");
        Assert.Equal(25, first.Count);
        // Lag midway: the admin's committed offsets cover exactly the 25 records read, 35 of 60 still to go.
        var midway = Clients.PythonScript("kp_group.py", [_broker.Bootstrap, "offsets", group]).JsonLines()
            .Where(j => j.GetProperty("type").GetString() == "committed").ToList();
        Assert.Equal(25, midway.Sum(j => j.GetProperty("offset").GetInt64()));
        var second = ClientRecord.OfType(Clients.PythonScript("kp_group.py", [_broker.Bootstrap, topic, group, "35"], TimeSpan.FromSeconds(90)), "record");
        Assert.Equal(35, second.Count);

        // Together exactly the 60 records, none twice: the second consumer started at the first one's commits.
        var all = first.Concat(second).ToList();
        Assert.Equal(60, all.Select(r => (r.Partition, r.Offset)).Distinct().Count());
        Assert.Equal(Enumerable.Range(0, 60).Select(i => $"v-{i}").Order(), all.Select(r => r.Value!).Order());
        foreach (var p in all.GroupBy(r => r.Partition))
            Assert.Equal(Enumerable.Range(0, p.Count()).Select(i => (long)i), p.Select(r => r.Offset).Order());

        // The admin client's view: committed offset = log end offset for every partition (lag 0).
        var committed = Clients.PythonScript("kp_group.py", [_broker.Bootstrap, "offsets", group]).JsonLines()
            .Where(j => j.GetProperty("type").GetString() == "committed")
            .ToDictionary(j => j.GetProperty("partition").GetInt32(), j => j.GetProperty("offset").GetInt64());
        var ends = all.GroupBy(r => r.Partition).ToDictionary(g => g.Key, g => g.Max(r => r.Offset) + 1);
        Assert.Equal(ends.OrderBy(kv => kv.Key), committed.OrderBy(kv => kv.Key));
    }

    [Theory]
    [InlineData("range")]
    [InlineData("cooperative-sticky")] // incremental rebalancing: the broker only relays the members' protocols
    public void ConfluentKafka_three_members_joining_and_leaving_consume_everything_with_each_partition_owned_once(string strategy)
    {
        string topic = "ck-group-" + strategy, group = "ck-g-" + strategy;
        Clients.KcatRun(["-L", "-b", _broker.Bootstrap, "-t", topic]); // auto-creates it with three partitions
        CommandResult run = Clients.PythonScript("ck_group.py", [_broker.Bootstrap, topic, group, "600", strategy], TimeSpan.FromSeconds(150));
        var lines = run.JsonLines();
        string Type(JsonElement j) => j.GetProperty("type").GetString()!;
        Assert.DoesNotContain(lines, j => Type(j) == "overlap");
        var produced = lines.Where(j => Type(j) == "produced").Select(j => j.GetProperty("value").GetString()).ToHashSet();
        var consumed = lines.Where(j => Type(j) == "consumed").Select(j => j.GetProperty("value").GetString()).ToHashSet();
        Assert.Equal(600, produced.Count);
        Assert.Subset(consumed, produced);
        Assert.Equal(produced.Count, consumed.Count);
        // All three members took part: each was assigned something at some point.
        var assigned = lines.Where(j => Type(j) == "assign" && j.GetProperty("partitions").GetArrayLength() > 0)
            .Select(j => j.GetProperty("member").GetString()).ToHashSet();
        Assert.Equal(["m0", "m1", "m2"], assigned.Order());
        _broker.AssertAlive("after the confluent-kafka group");
    }

    [Fact]
    public void KafkaJs_consumer_run_reads_a_topic_in_a_group_and_commits()
    {
        const string topic = "kjs-group", group = "kjs-g";
        Clients.KcatRun(["-P", "-b", _broker.Bootstrap, "-t", topic], stdin: Lines("j", 0, 40));
        string script = Path.Combine(RepoPaths.Root, "tests", "chaos", "clients", "node", "kjs_group_consume.js");
        CommandResult run = Clients.RunChecked("node", [script, _broker.Bootstrap, topic, group, "40"], TimeSpan.FromSeconds(90));
        var lines = run.JsonLines();
        var records = lines.Where(j => j.GetProperty("type").GetString() == "record").ToList();
        Assert.Equal(Enumerable.Range(0, 40).Select(i => $"j-{i}").Order(), records.Select(r => r.GetProperty("value").GetString()!).Order());
        var ends = records.GroupBy(r => r.GetProperty("partition").GetInt32()).ToDictionary(g => g.Key, g => g.Max(r => r.GetProperty("offset").GetInt64()) + 1);
        var committed = lines.Where(j => j.GetProperty("type").GetString() == "committed")
            .ToDictionary(j => j.GetProperty("partition").GetInt32(), j => j.GetProperty("offset").GetInt64());
        foreach (var (p, end) in ends) Assert.Equal(end, committed[p]);
        Assert.Contains(group, lines.Single(j => j.GetProperty("type").GetString() == "groups").GetProperty("groups").EnumerateArray().Select(e => e.GetString()));
    }
}
