using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit;

namespace DetKafka.Chaos;

/// <summary>A broker whose maintenance runs often: retention every 200 ms, the cleaner backing off 200 ms.</summary>
public sealed class FastMaintenanceBrokerFixture : IDisposable
{
    public BrokerProcess Broker { get; } = BrokerProcess.Start("fast-maintenance", environment: new Dictionary<string, string>
    {
        ["DETKAFKA_LOG_RETENTION_CHECK_INTERVAL_MS"] = "200",
        ["DETKAFKA_LOG_CLEANER_BACKOFF_MS"] = "200",
    });

    public void Dispose() => Broker.Dispose();
}

/// <summary>Retention and compaction seen by real clients: kafka-python on a compacted topic, kcat -Q on a
/// time-retention topic.</summary>
public sealed partial class RetentionCompactionTests(FastMaintenanceBrokerFixture fixture) : IClassFixture<FastMaintenanceBrokerFixture>
{
    private readonly BrokerProcess _broker = fixture.Broker;

    [Fact]
    public void Kafka_python_reads_one_value_per_key_and_no_deleted_key_after_compaction()
    {
        const int keys = 50, versions = 4, tombEvery = 5;
        CommandResult run = Clients.PythonScript("kp_compaction.py",
            [_broker.Bootstrap, "kp-compacted", keys.ToString(CultureInfo.InvariantCulture),
             versions.ToString(CultureInfo.InvariantCulture), tombEvery.ToString(CultureInfo.InvariantCulture)],
            TimeSpan.FromMinutes(3));
        Assert.True(run.ExitCode == 0, run.Describe());
        var lines = run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(0, lines.Single(l => l.GetProperty("type").GetString() == "create").GetProperty("errors")[0][1].GetInt32());
        Assert.Equal(keys * versions + keys / tombEvery, lines.Count(l => l.GetProperty("type").GetString() == "ack"));
        var read = lines.Last(l => l.GetProperty("type").GetString() == "read");
        Assert.True(read.GetProperty("done").GetBoolean(), run.Describe());
        var records = read.GetProperty("records").EnumerateArray()
            .Select(r => (Offset: r[0].GetInt64(), Key: r[1].GetString()!, Value: r[2].ValueKind == JsonValueKind.Null ? null : r[2].GetString()))
            .ToList();
        // Offsets strictly increase; every live key has its latest value, every deleted key is gone.
        Assert.True(records.Zip(records.Skip(1)).All(p => p.First.Offset < p.Second.Offset));
        for (int k = 0; k < keys; k++)
        {
            var values = records.Where(r => r.Key == $"key-{k}").Select(r => r.Value).ToList();
            if (k % tombEvery == 0) Assert.Empty(values);
            else Assert.Equal([$"v{versions - 1}"], values);
        }
        // Compaction really removed records: far fewer than were written.
        Assert.True(records.Count < keys * versions / 2, $"{records.Count} records left");
        _broker.AssertAlive("after compaction");
    }

    [Fact]
    public void A_time_retention_topic_loses_old_segments_and_the_earliest_offset_moves_forward()
    {
        const string topic = "kcat-retention";
        CommandResult created = Clients.PythonScript("kp_admin.py",
            [_broker.Bootstrap, "create", topic, "1", "retention.ms=1000", "segment.ms=200"]);
        Assert.True(created.ExitCode == 0, created.Describe());
        CommandResult produced = Clients.PythonScript("kp_produce.py", [_broker.Bootstrap, topic, "100", "ret"]);
        Assert.Equal(100, ClientRecord.OfType(produced, "ack").Count);
        // segment.ms rolls the idle active segment, then retention.ms deletes it once its records are a second old.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        long earliest = 0;
        while (earliest < 100 && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(300);
            earliest = Earliest(topic);
        }
        Assert.Equal(100, earliest);
        _broker.AssertAlive("after retention");
    }

    private long Earliest(string topic)
    {
        CommandResult q = Clients.KcatRun(["-Q", "-b", _broker.Bootstrap, "-t", $"{topic}:0:-2"]);
        Match m = QueryLine().Match(q.Stdout);
        Assert.True(m.Success && m.Groups["error"].Value.Length == 0, $"unexpected kcat -Q output: {q.Describe()}");
        return long.Parse(m.Groups["offset"].Value, CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"^(?<topic>\S+) \[(?<partition>\d+)\] offset (?<offset>-?\d+)(?<error>:.*)?$", RegexOptions.Multiline)]
    private static partial Regex QueryLine();
}
