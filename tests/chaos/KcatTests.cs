using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit;

namespace DetKafka.Chaos;

/// <summary>kcat (librdkafka 2.0.2) against the real broker, whose auto-created topics get three partitions.</summary>
public sealed partial class KcatTests(ThreePartitionBrokerFixture fixture) : IClassFixture<ThreePartitionBrokerFixture>
{
    private readonly BrokerProcess _broker = fixture.Broker;

    [Fact]
    public void Produce_10000_keyed_messages_and_consume_them_back_in_per_key_order()
    {
        const string topic = "kcat-10k";
        const int keys = 100, perKey = 100;
        // Record i: key "key<i % 100>", value "v-key<k>-<n>" where n counts that key's records, so per-key
        // order is readable from the value alone.
        var input = new StringBuilder();
        var expected = new HashSet<(string Key, string Value)>();
        for (int i = 0; i < keys * perKey; i++)
        {
            string key = "key" + (i % keys).ToString(CultureInfo.InvariantCulture);
            string value = $"v-{key}-{(i / keys).ToString(CultureInfo.InvariantCulture)}";
            input.Append(key).Append(':').Append(value).Append('\n');
            expected.Add((key, value));
        }
        string file = Path.Combine(Path.GetTempPath(), $"detkafka-kcat-input-{Guid.NewGuid():N}.txt");
        File.WriteAllText(file, input.ToString());
        try
        {
            Clients.KcatRun(["-P", "-b", _broker.Bootstrap, "-t", topic, "-K:", "-l", file], TimeSpan.FromSeconds(120));
        }
        finally
        {
            File.Delete(file);
        }

        CommandResult consumed = Clients.KcatRun(
            ["-C", "-b", _broker.Bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%p %o %k %s\\n"],
            TimeSpan.FromSeconds(120));
        var records = consumed.StdoutLines.Select(ParseFormatted).ToList();

        Assert.Equal(keys * perKey, records.Count);
        Assert.True(expected.SetEquals(records.Select(r => (r.Key!, r.Value!))),
            "consumed keys/values differ from those produced");

        var byPartition = LogAssert.ContiguousFromZero(records);
        Assert.All(byPartition.Keys, p => Assert.InRange(p, 0, 2));
        foreach (var group in records.GroupBy(r => r.Key!))
        {
            Assert.Single(group.Select(r => r.Partition).Distinct());
            // kcat prints each partition's records in offset order; the sequence must be 0,1,2... in that order.
            long[] seqs = group.OrderBy(r => r.Offset).Select(r => LogAssert.Sequence(r.Value)).ToArray();
            Assert.Equal(Enumerable.Range(0, perKey).Select(n => (long)n).ToArray(), seqs);
        }
        _broker.AssertAlive("after the kcat round trip");
    }

    [Fact]
    public void Metadata_list_shows_the_auto_created_topic_with_three_partitions()
    {
        const string topic = "kcat-metadata";
        Clients.KcatRun(["-P", "-b", _broker.Bootstrap, "-t", topic], stdin: "hello\n");

        CommandResult listed = Clients.KcatRun(["-L", "-J", "-b", _broker.Bootstrap, "-t", topic]);
        using var doc = JsonDocument.Parse(listed.Stdout);
        JsonElement root = doc.RootElement;
        JsonElement broker = Assert.Single(root.GetProperty("brokers").EnumerateArray());
        Assert.Equal(_broker.Bootstrap, broker.GetProperty("name").GetString());
        int brokerId = broker.GetProperty("id").GetInt32();
        Assert.Equal(brokerId, root.GetProperty("controllerid").GetInt32());

        JsonElement t = Assert.Single(root.GetProperty("topics").EnumerateArray());
        Assert.Equal(topic, t.GetProperty("topic").GetString());
        Assert.False(t.TryGetProperty("error", out var terr), $"topic error: {terr}");
        var partitions = t.GetProperty("partitions").EnumerateArray().ToList();
        Assert.Equal([0, 1, 2], partitions.Select(p => p.GetProperty("partition").GetInt32()).Order().ToArray());
        foreach (JsonElement p in partitions)
        {
            Assert.False(p.TryGetProperty("error", out var perr), $"partition error: {perr}");
            Assert.Equal(brokerId, p.GetProperty("leader").GetInt32());
            Assert.Equal(brokerId, Assert.Single(p.GetProperty("replicas").EnumerateArray()).GetProperty("id").GetInt32());
            Assert.Equal(brokerId, Assert.Single(p.GetProperty("isrs").EnumerateArray()).GetProperty("id").GetInt32());
        }
    }

    [Fact]
    public void Query_by_timestamp_returns_the_first_offset_at_or_after_it()
    {
        const string topic = "kcat-timestamps";
        const int count = 20;
        const long stepMs = 1000;
        // Recent timestamps, so no time-based retention could touch them.
        long baseMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 10 * 60 * 1000;
        CommandResult produced = Clients.PythonScript("ck_produce.py",
        [
            _broker.Bootstrap, topic, count.ToString(CultureInfo.InvariantCulture), "ts", "--partition", "0",
            "--timestamps", baseMs.ToString(CultureInfo.InvariantCulture), stepMs.ToString(CultureInfo.InvariantCulture),
        ]);
        var acks = ClientRecord.OfType(produced, "ack").OrderBy(a => a.Offset).ToList();
        Assert.Equal(count, acks.Count);
        Assert.All(acks, a => Assert.Equal(0, a.Partition));
        long first = acks[0].Offset;
        Assert.Equal(Enumerable.Range(0, count).Select(i => first + i), acks.Select(a => a.Offset));

        // Exact hit, between two records, before all of them, and after all of them (no such offset: -1).
        var cases = new (long TimestampMs, long ExpectedOffset)[]
        {
            (baseMs, first),
            (baseMs + 5 * stepMs, first + 5),
            (baseMs + 7 * stepMs + 1, first + 8),
            (baseMs - 60_000, first),
            (baseMs + (count - 1) * stepMs, first + count - 1),
            (baseMs + count * stepMs, -1),
        };
        foreach (var (ts, expectedOffset) in cases)
        {
            CommandResult q = Clients.KcatRun(["-Q", "-b", _broker.Bootstrap, "-t", $"{topic}:0:{ts}"]);
            Match m = QueryLine().Match(q.Stdout);
            Assert.True(m.Success, $"unexpected kcat -Q output for {ts}: {q.Describe()}");
            Assert.Equal(topic, m.Groups["topic"].Value);
            Assert.Equal("0", m.Groups["partition"].Value);
            Assert.True(m.Groups["error"].Value.Length == 0, $"kcat -Q reported an error for {ts}: {m.Value}");
            Assert.True(long.Parse(m.Groups["offset"].Value, CultureInfo.InvariantCulture) == expectedOffset,
                $"timestamp {ts} (base {baseMs} + {ts - baseMs} ms): expected offset {expectedOffset}, kcat said: {m.Value}");
        }

        // The timestamps survive the round trip too.
        CommandResult consumed = Clients.PythonScript("ck_consume.py", [_broker.Bootstrap, topic]);
        var records = ClientRecord.OfType(consumed, "record").Where(r => r.Partition == 0).ToList();
        Assert.Equal(acks.Select(a => (a.Offset, baseMs + LogAssert.Sequence(a.Value) * stepMs)),
            records.Select(r => (r.Offset, r.Timestamp)));
    }

    private static ClientRecord ParseFormatted(string line)
    {
        string[] f = line.Split(' ');
        Assert.True(f.Length == 4, $"unexpected kcat output line: '{line}'");
        return new ClientRecord(int.Parse(f[0], CultureInfo.InvariantCulture), long.Parse(f[1], CultureInfo.InvariantCulture), f[2], f[3]);
    }

    // kcat prints "<topic> [<partition>] offset <offset>" and, on a per-partition error, ": <error>".
    [GeneratedRegex(@"^(?<topic>\S+) \[(?<partition>\d+)\] offset (?<offset>-?\d+)(?<error>:.*)?$", RegexOptions.Multiline)]
    private static partial Regex QueryLine();
}
