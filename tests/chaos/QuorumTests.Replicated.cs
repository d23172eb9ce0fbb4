using System.Text.RegularExpressions;
using Xunit;

namespace DetKafka.Chaos;

// Replicated partitions on three real processes (REPLICATION.md, "Replicated partitions on the broker"): a topic with
// replication factor 3 and min.insync.replicas=2, kcat producing with acks=all, the partition's leader killed with
// SIGKILL, a new leader elected among the other two, and every acknowledged record read back through a survivor.
public sealed partial class QuorumTests
{
    [GeneratedRegex(@"partition 0, leader (-?\d+),")]
    private static partial Regex PartitionLeader();

    /// <summary>The leader of partition 0 of <paramref name="topic"/> as <paramref name="node"/> reports it, once it
    /// reports one (other than <paramref name="not"/>).</summary>
    internal static int WaitForPartitionLeader(BrokerProcess node, string topic, int not = -1)
    {
        var deadline = DateTime.UtcNow + Patience;
        CommandResult last;
        do
        {
            last = Clients.Run(Clients.Kcat, ["-L", "-b", node.Bootstrap, "-t", topic, "-m", "5"], TimeSpan.FromSeconds(30));
            if (last.ExitCode == 0 && PartitionLeader().Match(last.Stdout) is { Success: true } m)
            {
                int leader = int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
                if (leader > 0 && leader != not) return leader;
            }
            Thread.Sleep(250);
        }
        while (DateTime.UtcNow < deadline);
        Assert.Fail($"node at {node.Bootstrap} names no leader of {topic}-0 (other than {not}) within {Patience.TotalSeconds:F0}s:\n{last.Describe()}\n{node.LogTail()}");
        return -1;
    }

    [Fact]
    public void A_replication_factor_3_topic_keeps_every_acks_all_record_when_its_leader_is_killed()
    {
        int controller = _nodes.Select(WaitForController).First();
        var created = Clients.PythonScript("kp_admin.py", [_nodes[controller - 1].Bootstrap, "create", "replicated", "1",
            "replication.factor=3", "min.insync.replicas=2"], TimeSpan.FromSeconds(90)).JsonLines();
        Assert.Equal(0, Assert.Single(created).GetProperty("topic_errors")[0][1].GetInt32());
        foreach (var n in _nodes) WaitForTopic(n, "replicated", 1);
        int leader = WaitForPartitionLeader(_nodes[0], "replicated");

        // acks=all (librdkafka's default, spelled out): kcat exits non-zero if any record is not acknowledged.
        var first = Clients.KcatRun(["-P", "-b", _nodes[0].Bootstrap, "-t", "replicated", "-X", "acks=all"], TimeSpan.FromSeconds(60), stdin: "a\nb\nc\nd\n");
        Assert.True(first.ExitCode == 0, first.Describe());

        _nodes[leader - 1].Kill9();
        var survivor = _nodes[leader % 3];
        int fresh = WaitForPartitionLeader(survivor, "replicated", not: leader);
        Assert.NotEqual(leader, fresh);

        var second = Clients.KcatRun(["-P", "-b", survivor.Bootstrap, "-t", "replicated", "-X", "acks=all"], TimeSpan.FromSeconds(60), stdin: "e\nf\n");
        Assert.True(second.ExitCode == 0, second.Describe());
        var consumed = Clients.KcatRun(["-C", "-b", survivor.Bootstrap, "-t", "replicated", "-o", "beginning", "-e", "-q"], TimeSpan.FromSeconds(60));
        Assert.Equal(["a", "b", "c", "d", "e", "f"], consumed.StdoutLines);
        foreach (var n in _nodes.Where((_, i) => i != leader - 1)) n.AssertAlive("after the leader was killed");
    }
}
