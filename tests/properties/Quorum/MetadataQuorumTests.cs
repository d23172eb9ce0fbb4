using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Raft;
using Xunit;

namespace DetKafka.Properties.Quorum;

/// <summary>
/// The metadata log on a Raft quorum of three brokers (issue 7 step A): one controller, NOT_CONTROLLER elsewhere,
/// topics created at the controller applied by every node in the same order, placement over the voters, and the
/// agreement surviving a cut-off controller and a crash.
/// </summary>
public class MetadataQuorumTests
{
    private static int ElectController(QuorumCluster c)
    {
        Assert.True(c.Run(() => c.Controller() >= 0), "a controller is elected");
        return c.Controller();
    }

    [Fact]
    public void Three_nodes_elect_one_controller_and_every_node_applies_the_topics_it_creates()
    {
        var c = new QuorumCluster(3);
        int ctl = ElectController(c);
        int other = (ctl + 1) % 3;
        // Every node learns the leader (their Metadata names it).
        Assert.True(c.Run(() => c.Nodes.All(n => n!.ControllerId == ctl + 1)));

        var refused = c.CreateTopic(other, "t", 3, 3);
        Assert.Equal(ErrorCode.NotController, refused!.ErrorCode);

        var created = c.CreateTopic(ctl, "t", 3, 3);
        Assert.Equal(ErrorCode.None, created!.ErrorCode);
        Assert.Equal(3, created.ReplicationFactor);
        // Acknowledged means committed: the quorum's high watermark passed it, so a majority has it on disk.
        Assert.True(c.Run(() => c.Nodes.All(n => n!.FindTopic("t") is { PartitionCount: 3 })), c.Describe());

        Assert.Equal(ErrorCode.InvalidReplicationFactor, c.CreateTopic(ctl, "too-wide", 1, 4)!.ErrorCode);
        Assert.Equal(ErrorCode.None, c.CreateTopic(ctl, "u", 6, 2)!.ErrorCode);
        Assert.True(c.Run(() => c.Nodes.All(n => n!.FindTopic("u") is not null)));
        Assert.Equal(ErrorCode.None, c.DeleteTopic(ctl, "t"));
        Assert.Equal(ErrorCode.NotController, c.DeleteTopic(other, "u"));
        Assert.True(c.Run(() => c.Nodes.All(n => n!.FindTopic("t") is null)));
        Assert.Null(c.CheckPrefixes());
        Assert.True(c.Run(() => c.Nodes.All(n => n!.AppliedMetadata.Count == c.Nodes[ctl]!.AppliedMetadata.Count)));
        Assert.All(c.Nodes, n => Assert.Equal(c.Nodes[ctl]!.AppliedMetadata, n!.AppliedMetadata));

        // Metadata at any node: three brokers, the controller, placement spread over the voters (RF 2).
        var md = c.Ask<MetadataResponse>(other, ApiKey.Metadata, 9, new MetadataRequest { Topics = [new MetadataRequest.MetadataRequestTopic { Name = "u" }] })!;
        Assert.Equal([1, 2, 3], md.Brokers.Select(b => b.NodeId).OrderBy(x => x));
        Assert.Equal(ctl + 1, md.ControllerId);
        var parts = md.Topics.Single().Partitions;
        Assert.Equal(6, parts.Count);
        Assert.All(parts, p => Assert.Equal(2, p.ReplicaNodes.Distinct().Count()));
        // Placement spreads the preferred replicas (the first of each set); the leaders are elected per partition
        // among the replicas (replicated partitions), so each is one of its replicas once elected.
        Assert.Equal([1, 2, 3], parts.Select(p => p.ReplicaNodes[0]).Distinct().OrderBy(x => x));
        Assert.True(c.Run(() => Enumerable.Range(0, 6).All(p => c.PartitionLeader("u", p) >= 0)), c.Describe());
        md = c.Ask<MetadataResponse>(other, ApiKey.Metadata, 9, new MetadataRequest { Topics = [new MetadataRequest.MetadataRequestTopic { Name = "u" }] })!;
        Assert.All(md.Topics.Single().Partitions, p => Assert.Contains(p.LeaderId, p.ReplicaNodes));
        var cluster = c.Ask<DescribeClusterResponse>(other, ApiKey.DescribeCluster, 0, new DescribeClusterRequest())!;
        Assert.Equal(ctl + 1, cluster.ControllerId);
        Assert.Equal(3, cluster.Brokers.Count);

        // DescribeQuorum at the controller: every voter caught up to the high watermark.
        var dq = c.Ask<DescribeQuorumResponse>(ctl, ApiKey.DescribeQuorum, 2, new DescribeQuorumRequest
        {
            Topics = [new DescribeQuorumRequest.DescribeQuorumTopic { TopicName = RaftWire.MetadataTopic, Partitions = [new DescribeQuorumRequest.DescribeQuorumPartition { PartitionIndex = 0 }] }],
        })!;
        var q = dq.Topics.Single().Partitions.Single();
        Assert.Equal(ErrorCode.None, q.ErrorCode);
        Assert.Equal(ctl + 1, q.LeaderId);
        Assert.Equal(3, q.CurrentVoters.Count);
        var away = c.Ask<DescribeQuorumResponse>(other, ApiKey.DescribeQuorum, 2, new DescribeQuorumRequest
        {
            Topics = [new DescribeQuorumRequest.DescribeQuorumTopic { TopicName = RaftWire.MetadataTopic, Partitions = [new DescribeQuorumRequest.DescribeQuorumPartition { PartitionIndex = 0 }] }],
        })!;
        Assert.Equal(ErrorCode.NotLeaderOrFollower, away.Topics.Single().Partitions.Single().ErrorCode);
    }

    [Fact]
    public void A_cut_off_controller_is_replaced_and_the_history_stays_one_after_the_heal()
    {
        var c = new QuorumCluster(3, seed: 2);
        int old = ElectController(c);
        Assert.Equal(ErrorCode.None, c.CreateTopic(old, "before", 1, 3)!.ErrorCode);
        for (int i = 0; i < 3; i++) if (i != old) c.Cut(old, i);
        // The majority side elects a new controller; the old one cannot commit anything alone.
        Assert.True(c.Run(() => Enumerable.Range(0, 3).Any(i => i != old && c.Nodes[i]!.IsController)));
        int next = Enumerable.Range(0, 3).First(i => i != old && c.Nodes[i]!.IsController);
        var lost = c.CreateTopic(old, "minority", 1, 1, maxMs: 3_000);
        Assert.True(lost is null || lost.ErrorCode != ErrorCode.None, "a controller without a majority acknowledges nothing");
        Assert.Equal(ErrorCode.None, c.CreateTopic(next, "after", 2, 3)!.ErrorCode);
        c.Heal();
        bool healed = c.Run(() => c.Nodes.All(n => n!.FindTopic("after") is not null && n.FindTopic("before") is not null));
        Assert.True(healed, c.Describe());
        Assert.All(c.Nodes, n => Assert.Null(n!.FindTopic("minority")));
        Assert.Null(c.CheckPrefixes());
        Assert.Equal(1, c.Nodes.Count(n => n!.IsController));
    }

    [Fact]
    public void A_crashed_node_restarts_replays_the_committed_log_and_catches_up()
    {
        var c = new QuorumCluster(3, seed: 3);
        int ctl = ElectController(c);
        Assert.Equal(ErrorCode.None, c.CreateTopic(ctl, "a", 1, 1)!.ErrorCode);
        int victim = (ctl + 1) % 3;
        c.Crash(victim);
        Assert.Equal(ErrorCode.None, c.CreateTopic(ctl, "b", 1, 1)!.ErrorCode);
        c.Start(victim);
        Assert.True(c.Run(() => c.Nodes[victim]!.FindTopic("a") is not null && c.Nodes[victim]!.FindTopic("b") is not null));
        Assert.Null(c.CheckPrefixes());
        // The controller itself crashes: the others elect one, and the acknowledged topics survive.
        c.Crash(ctl);
        Assert.True(c.Run(() => c.Controller() >= 0));
        int now = c.Controller();
        Assert.NotEqual(ctl, now);
        Assert.Equal(ErrorCode.TopicAlreadyExists, c.CreateTopic(now, "a", 1, 1)!.ErrorCode);
        c.Start(ctl);
        Assert.True(c.Run(() => c.Nodes[ctl]!.FindTopic("b") is not null));
        Assert.Null(c.CheckPrefixes());
    }

    [Fact]
    public void Voters_parse_in_kafkas_syntax_and_bad_lists_are_refused()
    {
        var v = QuorumVoter.ParseList("2@127.0.0.1:19092, 1@localhost:19091,3@[::1]:19093");
        Assert.Equal([new QuorumVoter(1, "localhost", 19091), new QuorumVoter(2, "127.0.0.1", 19092), new QuorumVoter(3, "::1", 19093)], v);
        Assert.Empty(QuorumVoter.ParseList(""));
        foreach (var bad in new[] { "1@h", "x@h:1", "1@h:0", "1@:9", "1@h:1,1@g:2", "-1@h:1" })
            Assert.NotNull(QuorumVoter.TryParseList(bad, out _));
    }
}
