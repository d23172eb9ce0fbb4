using System.Text.Json;
using Xunit;

namespace DetKafka.Chaos;

/// <summary>
/// `detkafka group list|describe|seek|delete` against the real broker, with the group made and read back by a real
/// client: a kafka-python group consumer commits, the CLI's committed offsets and lag agree with kafka-python's
/// admin (list_consumer_group_offsets), seek moves what kafka-python then reads, delete removes the group.
/// </summary>
public sealed class GroupCliTests(ThreePartitionBrokerFixture fixture) : IClassFixture<ThreePartitionBrokerFixture>
{
    private readonly BrokerProcess _broker = fixture.Broker;

    private string[] B => ["--brokers", _broker.Bootstrap];

    private Dictionary<int, long> KafkaPythonCommitted(string group)
        => Clients.PythonScript("kp_group.py", [_broker.Bootstrap, "offsets", group]).JsonLines()
            .ToDictionary(l => l.GetProperty("partition").GetInt32(), l => l.GetProperty("offset").GetInt64());

    [Fact]
    public void Consume_with_a_group_commits_what_it_printed_and_a_second_run_resumes_there()
    {
        const string topic = "cli-consume-group", group = "cli-consume-group-g";
        Clients.KcatRun(["-P", "-b", _broker.Bootstrap, "-t", topic, "-K:"],
            stdin: string.Concat(Enumerable.Range(0, 40).Select(i => $"k{i}:v{i}\n")));
        var first = DetKafkaCli.RunChecked(["consume", topic, "--group", group, "-c", "10", "-f", "%s\\n", .. B], timeout: TimeSpan.FromSeconds(90))
            .Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(10, first.Length);
        // kafka-python's admin sees the commits: each partition's records were printed from 0, so they add up to 10.
        Assert.Equal(10, KafkaPythonCommitted(group).Values.Sum());
        var rest = DetKafkaCli.RunChecked(["consume", topic, "--group", group, "-e", "-f", "%s\\n", .. B], timeout: TimeSpan.FromSeconds(90))
            .Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(30, rest.Length);
        Assert.Equal(40, first.Concat(rest).Distinct().Count());
        Assert.Equal(0, DetKafkaCli.Json(["group", "describe", group, .. B]).GetProperty("total_lag").GetInt64());
    }

    [Fact]
    public void Group_verbs_agree_with_kafka_python_and_change_what_it_reads()
    {
        const string topic = "cli-groups", group = "cli-groups-g";
        Clients.KcatRun(["-P", "-b", _broker.Bootstrap, "-t", topic, "-K:"],
            stdin: string.Concat(Enumerable.Range(0, 40).Select(i => $"k{i}:v{i}\n")));
        var read = ClientRecord.OfType(Clients.PythonScript("kp_group.py", [_broker.Bootstrap, topic, group, "25"], TimeSpan.FromSeconds(90)), "record");
        Assert.Equal(25, read.Count);

        var listed = DetKafkaCli.Json(["group", "list", .. B]);
        var entry = listed.EnumerateArray().Single(g => g.GetProperty("group").GetString() == group);
        Assert.Equal("consumer", entry.GetProperty("protocol_type").GetString());

        var committed = KafkaPythonCommitted(group);
        var described = DetKafkaCli.Json(["group", "describe", group, .. B]);
        Assert.Equal("Empty", described.GetProperty("state").GetString());
        var rows = described.GetProperty("partitions").EnumerateArray().ToList();
        Assert.Equal(committed.Keys.Order(), rows.Where(r => r.GetProperty("current_offset").ValueKind != JsonValueKind.Null)
            .Select(r => r.GetProperty("partition").GetInt32()).Order());
        foreach (var r in rows.Where(r => r.GetProperty("current_offset").ValueKind != JsonValueKind.Null))
            Assert.Equal(committed[r.GetProperty("partition").GetInt32()], r.GetProperty("current_offset").GetInt64());
        // Every partition of the topic is listed; lag = log end - committed where there is a commit.
        Assert.Equal(3, rows.Count);
        long lag = 0;
        foreach (var r in rows.Where(r => r.GetProperty("current_offset").ValueKind != JsonValueKind.Null))
        {
            long expected = r.GetProperty("log_end_offset").GetInt64() - r.GetProperty("current_offset").GetInt64();
            Assert.Equal(expected, r.GetProperty("lag").GetInt64());
            lag += expected;
        }
        Assert.Equal(lag, described.GetProperty("total_lag").GetInt64());
        Assert.Equal(40, rows.Sum(r => r.GetProperty("log_end_offset").GetInt64()));
        string table = DetKafkaCli.RunChecked(["group", "describe", group, .. B]).Stdout;
        Assert.Contains("LOG-END-OFFSET", table, StringComparison.Ordinal);

        // Seek the inactive group back to the start: kafka-python sees offsets 0 and reads all 40 again.
        DetKafkaCli.RunChecked(["group", "seek", group, "--topic", topic, "--to", "earliest", .. B]);
        Assert.All(KafkaPythonCommitted(group).Values, o => Assert.Equal(0, o));
        var again = ClientRecord.OfType(Clients.PythonScript("kp_group.py", [_broker.Bootstrap, topic, group, "40"], TimeSpan.FromSeconds(90)), "record");
        Assert.Equal(40, again.Count);

        DetKafkaCli.RunChecked(["group", "delete", group, .. B]);
        Assert.DoesNotContain(DetKafkaCli.Json(["group", "list", .. B]).EnumerateArray(), g => g.GetProperty("group").GetString() == group);
        CommandResult missing = DetKafkaCli.Run(["group", "describe", group, .. B]);
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("does not exist", missing.Stderr, StringComparison.Ordinal);
        _broker.AssertAlive("after the group verbs");
    }
}
