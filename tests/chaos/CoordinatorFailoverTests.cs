using Xunit;

namespace DetKafka.Chaos;

/// <summary>
/// The group coordinator follows its replicated <c>__consumer_offsets</c> partition on three real processes
/// (REPLICATION.md, "Coordinators on replicated partitions"): a kafka-python group consumer reads and commits after
/// each record, the process coordinating its group is killed with SIGKILL, and a consumer of the same group started
/// against the survivors finds the new coordinator and continues from the committed offset: every record consumed
/// exactly once over the two runs (commit-after-process, each commit acknowledged before the next record is read).
/// </summary>
public sealed class CoordinatorFailoverTests : IDisposable
{
    // Three __consumer_offsets partitions instead of 50: each is a Raft log on every node.
    private readonly BrokerProcess[] _nodes = BrokerProcess.StartQuorum("coordinator", 3,
        new Dictionary<string, string> { ["DETKAFKA_OFFSETS_TOPIC_NUM_PARTITIONS"] = "3" });

    public void Dispose()
    {
        foreach (var n in _nodes) n.Dispose();
    }

    /// <summary>The coordinator FindCoordinator names (other than <paramref name="not"/>: until the survivors elect a
    /// new leader of the group's partition they still name the killed one, as Kafka names a dead leader until its
    /// session expires; a client retries).</summary>
    private static int Coordinator(string bootstrap, string group, int not = -1)
    {
        var deadline = DateTime.UtcNow + QuorumTests.Patience;
        int node;
        do
        {
            var lines = Clients.PythonScript("kp_group.py", [bootstrap, "coordinator", group], TimeSpan.FromSeconds(90)).JsonLines();
            node = Assert.Single(lines).GetProperty("node").GetInt32();
            if (node != not) return node;
            Thread.Sleep(250);
        }
        while (DateTime.UtcNow < deadline);
        Assert.Fail($"the coordinator of {group} is still node {not} after {QuorumTests.Patience.TotalSeconds:F0}s");
        return -1;
    }

    private static List<(long Offset, string Value)> Consume(string bootstrap, string group, int max)
        => Clients.PythonScript("kp_group.py", [bootstrap, "events", group, max.ToString(System.Globalization.CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(120))
            .JsonLines()
            .Where(l => l.GetProperty("type").GetString() == "record")
            .Select(l => (l.GetProperty("offset").GetInt64(), l.GetProperty("value").GetString()!))
            .ToList();

    [Fact]
    public void A_group_consumer_continues_from_its_committed_offset_when_the_coordinator_is_killed()
    {
        int controller = _nodes.Select(QuorumTests.WaitForController).First();
        var created = Clients.PythonScript("kp_admin.py", [_nodes[controller - 1].Bootstrap, "create", "events", "1",
            "replication.factor=3", "min.insync.replicas=2"], TimeSpan.FromSeconds(90)).JsonLines();
        Assert.Equal(0, Assert.Single(created).GetProperty("topic_errors")[0][1].GetInt32());
        foreach (var n in _nodes) QuorumTests.WaitForTopic(n, "events", 1);
        QuorumTests.WaitForPartitionLeader(_nodes[0], "events");
        var values = Enumerable.Range(0, 20).Select(i => $"v{i:D2}").ToList();
        var produced = Clients.KcatRun(["-P", "-b", _nodes[0].Bootstrap, "-t", "events", "-X", "acks=all"], TimeSpan.FromSeconds(60),
            stdin: string.Join("\n", values) + "\n");
        Assert.True(produced.ExitCode == 0, produced.Describe());

        string all = string.Join(",", _nodes.Select(n => n.Bootstrap));
        var first = Consume(all, "g1", 8);
        Assert.Equal(values.Take(8), first.Select(r => r.Value));
        int coordinator = Coordinator(all, "g1");
        Assert.InRange(coordinator, 1, 3);

        _nodes[coordinator - 1].Kill9();
        string survivors = string.Join(",", _nodes.Where((_, i) => i != coordinator - 1).Select(n => n.Bootstrap));
        int fresh = Coordinator(survivors, "g1", not: coordinator);
        Assert.NotEqual(coordinator, fresh);
        // The offset committed after the eighth record (the log starts with the first leader's LEADER_CHANGE batch).
        long resume = first[^1].Offset + 1;
        var committed = Clients.PythonScript("kp_group.py", [survivors, "offsets", "g1"], TimeSpan.FromSeconds(90)).JsonLines();
        Assert.Equal(resume, Assert.Single(committed).GetProperty("offset").GetInt64());

        var second = Consume(survivors, "g1", 12);
        Assert.Equal(values.Skip(8), second.Select(r => r.Value));
        Assert.Equal(resume, second[0].Offset);
        foreach (var n in _nodes.Where((_, i) => i != coordinator - 1)) n.AssertAlive("after the coordinator was killed");
    }

    /// <summary>Producer ids in a quorum (REPLICATION.md, "Producer ids in a quorum"): confluent-kafka with idempotence
    /// on, bootstrapped at a node that is not the controller, gets its producer id from that node's block (taken from the
    /// controller with AllocateProducerIds) and every record is acknowledged once, in order.</summary>
    [Fact]
    public void An_idempotent_producer_gets_its_id_at_a_node_that_is_not_the_controller()
    {
        int controller = _nodes.Select(QuorumTests.WaitForController).First();
        var created = Clients.PythonScript("kp_admin.py", [_nodes[controller - 1].Bootstrap, "create", "events", "1",
            "replication.factor=3"], TimeSpan.FromSeconds(90)).JsonLines();
        Assert.Equal(0, Assert.Single(created).GetProperty("topic_errors")[0][1].GetInt32());
        foreach (var n in _nodes) QuorumTests.WaitForTopic(n, "events", 1);
        QuorumTests.WaitForPartitionLeader(_nodes[0], "events");
        var other = _nodes[controller % 3];
        var acks = Clients.PythonScript("ck_produce.py", [other.Bootstrap, "events", "50", "idem", "--idempotent"], TimeSpan.FromSeconds(90))
            .JsonLines().Where(l => l.GetProperty("type").GetString() == "ack").Select(l => l.GetProperty("value").GetString()).ToList();
        Assert.Equal(Enumerable.Range(0, 50).Select(i => $"idem-{i}"), acks);
        var consumed = Clients.KcatRun(["-C", "-b", other.Bootstrap, "-t", "events", "-o", "beginning", "-e", "-q"], TimeSpan.FromSeconds(60));
        Assert.Equal(Enumerable.Range(0, 50).Select(i => $"idem-{i}"), consumed.StdoutLines);
        Assert.Contains("producer ids [", File.ReadAllText(other.LogPath), StringComparison.Ordinal); // its own block, from the controller
    }
}
