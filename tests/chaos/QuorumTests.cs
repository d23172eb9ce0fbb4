using System.Text.RegularExpressions;
using Xunit;

namespace DetKafka.Chaos;

/// <summary>
/// Three real broker processes as one metadata quorum (issue 7, REPLICATION.md "The metadata quorum on the broker"):
/// the nodes reach each other over TCP through the host's outbound connect, elect one controller, and a topic created
/// at any node is served by every node. Partition data is not replicated yet; this checks the quorum, the peer
/// network on real sockets, and that real clients (kcat, kafka-python's admin client) find their way through it.
/// </summary>
public sealed partial class QuorumTests : IDisposable
{
    internal static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private readonly BrokerProcess[] _nodes = BrokerProcess.StartQuorum("quorum", 3);

    public void Dispose()
    {
        foreach (var n in _nodes) n.Dispose();
    }

    [GeneratedRegex(@"broker (\d+) at \S+ \(controller\)")]
    private static partial Regex ControllerLine();

    [GeneratedRegex(@"^\s*(\d+) brokers:", RegexOptions.Multiline)]
    private static partial Regex BrokerCount();

    /// <summary>The controller a node names in Metadata (kcat -L), once it names one and lists all three brokers.</summary>
    internal static int WaitForController(BrokerProcess node)
    {
        var deadline = DateTime.UtcNow + Patience;
        CommandResult last;
        do
        {
            last = Clients.Run(Clients.Kcat, ["-L", "-b", node.Bootstrap, "-m", "5"], TimeSpan.FromSeconds(30));
            if (last.ExitCode == 0 && ControllerLine().Match(last.Stdout) is { Success: true } m
                && BrokerCount().Match(last.Stdout) is { Success: true } b && b.Groups[1].Value == "3")
                return int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            Thread.Sleep(250);
        }
        while (DateTime.UtcNow < deadline);
        Assert.Fail($"node at {node.Bootstrap} named no controller of three brokers within {Patience.TotalSeconds:F0}s:\n{last.Describe()}\n{node.LogTail()}");
        return -1;
    }

    internal static void WaitForTopic(BrokerProcess node, string topic, int partitions)
    {
        var deadline = DateTime.UtcNow + Patience;
        CommandResult last;
        do
        {
            last = Clients.Run(Clients.Kcat, ["-L", "-b", node.Bootstrap, "-t", topic, "-m", "5"], TimeSpan.FromSeconds(30));
            if (last.ExitCode == 0 && last.Stdout.Contains($"topic \"{topic}\" with {partitions} partitions", StringComparison.Ordinal)) return;
            Thread.Sleep(250);
        }
        while (DateTime.UtcNow < deadline);
        Assert.Fail($"node at {node.Bootstrap} does not list {topic} with {partitions} partitions:\n{last.Describe()}");
    }

    [Fact]
    public void Three_processes_elect_one_controller_and_every_node_serves_a_topic_created_at_another()
    {
        var controllers = _nodes.Select(WaitForController).ToList();
        Assert.Single(controllers.Distinct());
        int controller = controllers[0];
        Assert.InRange(controller, 1, 3);

        // kafka-python's admin client, bootstrapped at a node that is not the controller, finds the controller (the
        // others answer NOT_CONTROLLER) and the creation is answered once the quorum committed it.
        var elsewhere = _nodes[controller % 3]; // node ids are 1..3 at indexes 0..2: this is the controller's successor
        var created = Clients.PythonScript("kp_admin.py", [elsewhere.Bootstrap, "create", "quorum-topic", "2"], TimeSpan.FromSeconds(90)).JsonLines();
        var errors = Assert.Single(created).GetProperty("topic_errors");
        Assert.Equal("quorum-topic", errors[0][0].GetString());
        Assert.Equal(0, errors[0][1].GetInt32());
        foreach (var n in _nodes) WaitForTopic(n, "quorum-topic", 2);

        // Produced through one node, consumed through another: the clients follow Metadata to each partition's node.
        Clients.KcatRun(["-P", "-b", _nodes[0].Bootstrap, "-t", "quorum-topic"], TimeSpan.FromSeconds(60), stdin: "a\nb\nc\nd\n");
        var consumed = Clients.KcatRun(["-C", "-b", _nodes[2].Bootstrap, "-t", "quorum-topic", "-o", "beginning", "-e", "-q"], TimeSpan.FromSeconds(60));
        Assert.Equal(["a", "b", "c", "d"], consumed.StdoutLines.Order(StringComparer.Ordinal));
        foreach (var n in _nodes) n.AssertAlive("after the quorum round trip");
    }
}
