using Xunit;

namespace DetKafka.Chaos;

/// <summary>
/// The transaction coordinator follows its replicated <c>__transaction_state</c> partition on three real processes
/// (TRANSACTIONS.md "In a cluster", REPLICATION.md "Coordinators on replicated partitions"): a confluent-kafka
/// transactional producer commits, aborts and commits across three partitions replicated three ways (markers to
/// leaders on other nodes), then a producer with the same transactional.id leaves a transaction open and exits; the
/// process coordinating that id is killed with SIGKILL. A producer with the same id started against the survivors
/// finds the new coordinator (its init_transactions ends the open transaction) and runs its three transactions again.
/// A read_committed consumer then reads exactly the committed records of both runs: nothing committed is lost,
/// nothing aborted or left open is visible, and no partition is held back by an open transaction.
/// </summary>
public sealed class TransactionCoordinatorFailoverTests : IDisposable
{
    // Three partitions per internal topic instead of 50: each is a Raft log on every node.
    private readonly BrokerProcess[] _nodes = BrokerProcess.StartQuorum("txn-coordinator", 3, new Dictionary<string, string>
    {
        ["DETKAFKA_OFFSETS_TOPIC_NUM_PARTITIONS"] = "3",
        ["DETKAFKA_TRANSACTION_STATE_LOG_NUM_PARTITIONS"] = "3",
    });

    public void Dispose()
    {
        foreach (var n in _nodes) n.Dispose();
    }

    /// <summary>The node FindCoordinator (key type 1) names for <paramref name="txnId"/>, other than <paramref name="not"/>.</summary>
    private static int Coordinator(string bootstrap, string txnId, int not = -1)
    {
        var deadline = DateTime.UtcNow + QuorumTests.Patience;
        int node;
        do
        {
            var lines = Clients.PythonScript("kp_group.py", [bootstrap, "txn-coordinator", txnId], TimeSpan.FromSeconds(90)).JsonLines();
            node = Assert.Single(lines).GetProperty("node").GetInt32();
            if (node != not) return node;
            Thread.Sleep(250);
        }
        while (DateTime.UtcNow < deadline);
        Assert.Fail($"the coordinator of {txnId} is still node {not} after {QuorumTests.Patience.TotalSeconds:F0}s");
        return -1;
    }

    [Fact]
    public void Committed_transactions_survive_when_the_transaction_coordinator_is_killed()
    {
        const string topic = "txevents";
        const string txnId = "chaos-tx";
        int controller = _nodes.Select(QuorumTests.WaitForController).First();
        var created = Clients.PythonScript("kp_admin.py", [_nodes[controller - 1].Bootstrap, "create", topic, "3",
            "replication.factor=3", "min.insync.replicas=2"], TimeSpan.FromSeconds(90)).JsonLines();
        Assert.Equal(0, Assert.Single(created).GetProperty("topic_errors")[0][1].GetInt32());
        foreach (var n in _nodes) QuorumTests.WaitForTopic(n, topic, 3);
        QuorumTests.WaitForPartitionLeader(_nodes[0], topic);
        string all = string.Join(",", _nodes.Select(n => n.Bootstrap));

        var first = Clients.PythonScript("ck_txn.py", ["produce", all, topic, txnId], TimeSpan.FromSeconds(150));
        Assert.True(first.ExitCode == 0, first.Describe());
        Assert.Equal(["commit", "abort", "commit"], first.JsonLines().Select(l => l.GetProperty("result").GetString()));
        var open = Clients.PythonScript("ck_txn.py", ["open", all, topic, txnId], TimeSpan.FromSeconds(90));
        Assert.True(open.ExitCode == 0, open.Describe());

        int coordinator = Coordinator(all, txnId);
        Assert.InRange(coordinator, 1, 3);
        _nodes[coordinator - 1].Kill9();
        string survivors = string.Join(",", _nodes.Where((_, i) => i != coordinator - 1).Select(n => n.Bootstrap));
        int fresh = Coordinator(survivors, txnId, not: coordinator);
        Assert.NotEqual(coordinator, fresh);

        var second = Clients.PythonScript("ck_txn.py", ["produce", survivors, topic, txnId], TimeSpan.FromSeconds(150));
        Assert.True(second.ExitCode == 0, second.Describe());
        Assert.Equal(["commit", "abort", "commit"], second.JsonLines().Select(l => l.GetProperty("result").GetString()));

        var consumed = ClientRecord.OfType(Clients.PythonScript("ck_txn.py", ["consume", survivors, topic, "read_committed"], TimeSpan.FromSeconds(90)), "record");
        var expected = new[] { "c", "d" }.SelectMany(prefix => Enumerable.Range(0, 3).SelectMany(p => Enumerable.Range(0, 10).Select(i => $"{prefix}-{p}-{i}")))
            .SelectMany(v => new[] { v, v }); // both runs
        Assert.Equal(expected.OrderBy(v => v, StringComparer.Ordinal), consumed.Select(r => r.Value!).OrderBy(v => v, StringComparer.Ordinal));
        Assert.Contains("records of __transaction_state", File.ReadAllText(_nodes[fresh - 1].LogPath), StringComparison.Ordinal); // it loaded the partition
        foreach (var n in _nodes.Where((_, i) => i != coordinator - 1)) n.AssertAlive("after the transaction coordinator was killed");
    }
}
