using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Groups;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Properties.Broker;
using Xunit;

namespace DetKafka.Properties.Groups;

/// <summary>KIP-848 through real ConsumerGroupHeartbeat frames (BrokerHarness: simulated disk, manual clock):
/// the revoke-before-assign handoff, the errors clients expect, static members, timeouts, restart, commits.</summary>
public sealed class ConsumerGroupCoordinatorTests
{
    private const short V = 1;

    private static BrokerHarness Harness(int partitions = 4, ConsumerGroupConfig? consumer = null)
    {
        var h = new BrokerHarness(new BrokerConfig
        {
            NodeId = 1, DataDirectory = "data", OffsetsTopicNumPartitions = 3, ConsumerGroup = consumer ?? new ConsumerGroupConfig(),
        });
        Assert.Equal(ErrorCode.None, h.Node.CreateTopic("t", partitions, [], validateOnly: false, out _).Error);
        return h;
    }

    private static ConsumerGroupHeartbeatRequest Join(string memberId = "", string? instance = null, string? assignor = null, string[]? topics = null, string? regex = null) => new()
    {
        GroupId = "g", MemberId = memberId, MemberEpoch = 0, InstanceId = instance, RebalanceTimeoutMs = 30_000,
        SubscribedTopicNames = regex is null ? (topics ?? ["t"]).ToList() : null, SubscribedTopicRegex = regex, ServerAssignor = assignor, TopicPartitions = [],
    };

    private static ConsumerGroupHeartbeatRequest Beat(string memberId, int epoch, IEnumerable<int>? owned, Guid topicId) => new()
    {
        GroupId = "g", MemberId = memberId, MemberEpoch = epoch,
        TopicPartitions = owned is null ? null : [new() { TopicId = topicId, Partitions = owned.ToList() }],
    };

    private static ConsumerGroupHeartbeatRequest Mod(ConsumerGroupHeartbeatRequest r, Action<ConsumerGroupHeartbeatRequest> change)
    {
        change(r);
        return r;
    }

    private static ConsumerGroupHeartbeatResponse Call(BrokerHarness h, ConnectionId c, ConsumerGroupHeartbeatRequest r)
        => h.Call<ConsumerGroupHeartbeatResponse>(c, ApiKey.ConsumerGroupHeartbeat, V, r);

    private static List<int> Parts(ConsumerGroupHeartbeatResponse r) => r.Assignment!.TopicPartitions.SelectMany(t => t.Partitions).OrderBy(p => p).ToList();

    [Fact]
    public void A_second_member_gets_partitions_only_after_the_first_acknowledges_their_revocation()
    {
        var h = Harness();
        var id = h.Node.FindTopic("t")!.TopicId;
        var c1 = h.Connect();
        var c2 = h.Connect();
        var a = Call(h, c1, Join());
        Assert.Equal(ErrorCode.None, a.ErrorCode);
        Assert.Equal([0, 1, 2, 3], Parts(a));
        Assert.True(a.MemberEpoch > 0);

        var b = Call(h, c2, Join());
        Assert.Equal(ErrorCode.None, b.ErrorCode);
        Assert.Empty(Parts(b)); // everything still held by a
        var bEpoch = b.MemberEpoch;

        // a learns it must give up two partitions; its epoch stays until it acknowledges.
        var a2 = Call(h, c1, Beat(a.MemberId!, a.MemberEpoch, null, id));
        Assert.Equal(a.MemberEpoch, a2.MemberEpoch);
        var kept = Parts(a2);
        Assert.Equal(2, kept.Count);

        // b asks again before a acknowledged: still nothing.
        var b2 = Call(h, c2, Beat(b.MemberId!, bEpoch, [], id));
        Assert.True(b2.Assignment is null || Parts(b2).Count == 0);

        // a still reports the revoked partitions as owned: nothing moves.
        Call(h, c1, Beat(a.MemberId!, a.MemberEpoch, [0, 1, 2, 3], id));
        var b3 = Call(h, c2, Beat(b.MemberId!, b2.MemberEpoch, [], id));
        Assert.True(b3.Assignment is null || Parts(b3).Count == 0);

        // a acknowledges: it moves to the new epoch; b gets the other two.
        var a3 = Call(h, c1, Beat(a.MemberId!, a.MemberEpoch, kept, id));
        Assert.True(a3.MemberEpoch > a.MemberEpoch);
        var b4 = Call(h, c2, Beat(b.MemberId!, b3.MemberEpoch, [], id));
        Assert.Equal([0, 1, 2, 3], kept.Concat(Parts(b4)).OrderBy(p => p));
        Assert.Equal(ConsumerGroupState.Stable, h.Node.Groups.FindGroup("g")!.Consumer!.State);
    }

    [Fact]
    public void Bad_heartbeats_get_the_errors_kafka_gives()
    {
        var h = Harness(consumer: new ConsumerGroupConfig { MaxSize = 2 });
        var id = h.Node.FindTopic("t")!.TopicId;
        var c = h.Connect();
        Assert.Equal(ErrorCode.GroupIdNotFound, Call(h, c, Beat("nobody", 3, null, id)).ErrorCode);
        Assert.Equal(ErrorCode.InvalidRequest, Call(h, c, Mod(Join(), r => r.RebalanceTimeoutMs = -1)).ErrorCode);
        Assert.Equal(ErrorCode.InvalidRequest, Call(h, c, Mod(Join(), r => r.SubscribedTopicNames = null)).ErrorCode);
        Assert.Equal(ErrorCode.InvalidRequest, Call(h, c, Beat("", 5, null, id)).ErrorCode);
        Assert.Equal(ErrorCode.InvalidRequest, Call(h, c, Beat("", -1, null, id)).ErrorCode);
        Assert.Equal(ErrorCode.InvalidRequest, Call(h, c, Beat("x", -3, null, id)).ErrorCode);
        Assert.Equal(ErrorCode.UnsupportedAssignor, Call(h, c, Join(assignor: "sticky")).ErrorCode);
        Assert.Equal(ErrorCode.InvalidRegularExpression, Call(h, c, Join(regex: "t(")).ErrorCode);

        var a = Call(h, c, Join(instance: "i1"));
        Assert.Equal(ErrorCode.None, a.ErrorCode);
        Assert.Equal(ErrorCode.UnknownMemberId, Call(h, c, Beat("ghost", 1, null, id)).ErrorCode);
        Assert.Equal(ErrorCode.FencedMemberEpoch, Call(h, c, Beat(a.MemberId!, a.MemberEpoch + 1, null, id)).ErrorCode);
        Assert.Equal(ErrorCode.FencedMemberEpoch, Call(h, c, Beat(a.MemberId!, a.MemberEpoch - 1, [0, 1, 2, 3, 9], id)).ErrorCode);
        Assert.Equal(ErrorCode.UnreleasedInstanceId, Call(h, c, Join(instance: "i1")).ErrorCode);
        Assert.Equal(ErrorCode.None, Call(h, c, Join()).ErrorCode);
        Assert.Equal(ErrorCode.GroupMaxSizeReached, Call(h, c, Join()).ErrorCode);

        // The classic protocol meets a consumer group with members: INCONSISTENT_GROUP_PROTOCOL.
        var join = h.Call<JoinGroupResponse>(c, ApiKey.JoinGroup, 5, new JoinGroupRequest
        {
            GroupId = "g", SessionTimeoutMs = 10_000, RebalanceTimeoutMs = 10_000, ProtocolType = "consumer",
            Protocols = [new() { Name = "range", Metadata = new byte[] { 0 } }],
        });
        Assert.Equal(ErrorCode.InconsistentGroupProtocol, join.ErrorCode);
    }

    [Fact]
    public void A_consumer_heartbeat_to_a_classic_group_with_members_is_group_id_not_found()
    {
        var h = Harness();
        var c = h.Connect();
        var first = h.Call<JoinGroupResponse>(c, ApiKey.JoinGroup, 5, new JoinGroupRequest
        {
            GroupId = "g", SessionTimeoutMs = 10_000, RebalanceTimeoutMs = 10_000, ProtocolType = "consumer",
            Protocols = [new() { Name = "range", Metadata = new byte[] { 0 } }],
        });
        Assert.Equal(ErrorCode.MemberIdRequired, first.ErrorCode);
        h.Call<JoinGroupResponse>(c, ApiKey.JoinGroup, 5, new JoinGroupRequest
        {
            GroupId = "g", MemberId = first.MemberId, SessionTimeoutMs = 10_000, RebalanceTimeoutMs = 10_000, ProtocolType = "consumer",
            Protocols = [new() { Name = "range", Metadata = new byte[] { 0 } }],
        });
        Assert.Equal(ErrorCode.GroupIdNotFound, Call(h, h.Connect(), Join()).ErrorCode);
    }

    [Fact]
    public void A_static_member_leaving_with_minus_two_returns_to_its_partitions_and_a_silent_member_is_removed()
    {
        var h = Harness(consumer: new ConsumerGroupConfig { SessionTimeoutMs = 10_000 });
        var id = h.Node.FindTopic("t")!.TopicId;
        var c = h.Connect();
        var s = Call(h, c, Join(instance: "static-1"));
        var d = Call(h, c, Join());
        // Settle: s acknowledges its revocation, d picks up the rest.
        var s2 = Call(h, c, Beat(s.MemberId!, s.MemberEpoch, null, id));
        var s3 = Call(h, c, Beat(s.MemberId!, s2.MemberEpoch, Parts(s2), id));
        var held = Parts(s3.Assignment is null ? s2 : s3);
        var leave = Call(h, c, Mod(Beat(s.MemberId!, -2, null, id), r => r.InstanceId = "static-1"));
        Assert.Equal(ErrorCode.None, leave.ErrorCode);
        Assert.Equal(-2, leave.MemberEpoch);
        var back = Call(h, c, Join(instance: "static-1"));
        Assert.Equal(ErrorCode.None, back.ErrorCode);
        Assert.NotEqual(s.MemberId, back.MemberId);
        Assert.Equal(held, Parts(back));

        // d stops heartbeating: after the session timeout it is gone and static-1 gets its partitions.
        for (int i = 0; i < 12; i++)
        {
            h.AdvanceTime(1_000);
            back = Call(h, c, Beat(back.MemberId!, back.MemberEpoch, held, id));
            if (back.Assignment is not null) held = Parts(back);
        }
        var g = h.Node.Groups.FindGroup("g")!.Consumer!;
        Assert.False(g.Members.ContainsKey(d.MemberId!));
        Assert.Equal([0, 1, 2, 3], held);
    }

    [Fact]
    public void Group_state_and_commits_survive_a_restart_and_commits_check_the_member_epoch()
    {
        var h = Harness();
        var id = h.Node.FindTopic("t")!.TopicId;
        var c = h.Connect();
        var a = Call(h, c, Join());
        OffsetCommitResponse Commit(int epoch, string member, short version = 9) => h.Call<OffsetCommitResponse>(c, ApiKey.OffsetCommit, version, new OffsetCommitRequest
        {
            GroupId = "g", GenerationId = epoch, MemberId = member,
            Topics = [new() { Name = "t", Partitions = [new() { PartitionIndex = 1, CommittedOffset = 42 }] }],
        });
        Assert.Equal(ErrorCode.StaleMemberEpoch, Commit(a.MemberEpoch - 1, a.MemberId!).Topics[0].Partitions[0].ErrorCode);
        Assert.Equal(ErrorCode.FencedMemberEpoch, Commit(a.MemberEpoch + 1, a.MemberId!).Topics[0].Partitions[0].ErrorCode);
        Assert.Equal(ErrorCode.UnknownMemberId, Commit(a.MemberEpoch, "ghost").Topics[0].Partitions[0].ErrorCode);
        Assert.Equal(ErrorCode.UnknownMemberId, Commit(-1, "").Topics[0].Partitions[0].ErrorCode); // the group has members
        Assert.Equal(ErrorCode.UnsupportedVersion, Commit(a.MemberEpoch, a.MemberId!, 8).Topics[0].Partitions[0].ErrorCode);
        Assert.Equal(ErrorCode.None, Commit(a.MemberEpoch, a.MemberId!).Topics[0].Partitions[0].ErrorCode);

        h.CrashAndRestart();
        var g = h.Node.Groups.FindGroup("g")!;
        Assert.NotNull(g.Consumer);
        Assert.Equal(a.MemberEpoch, g.Consumer!.Members[a.MemberId!].MemberEpoch);
        Assert.Equal(42, g.Offsets[new Core.Protocol.TopicPartition("t", 1)].Offset);
        c = h.Connect();
        var again = Call(h, c, Beat(a.MemberId!, a.MemberEpoch, [0, 1, 2, 3], id));
        Assert.Equal(ErrorCode.None, again.ErrorCode);
        Assert.Equal([0, 1, 2, 3], Parts(again)); // a full heartbeat after a restart gets its assignment again

        var fetch = h.Call<OffsetFetchResponse>(c, ApiKey.OffsetFetch, 9, new OffsetFetchRequest
        {
            Groups = [new() { GroupId = "g", MemberId = a.MemberId, MemberEpoch = a.MemberEpoch - 1, Topics = [new() { Name = "t", PartitionIndexes = [1] }] }],
        });
        Assert.Equal(ErrorCode.StaleMemberEpoch, fetch.Groups[0].ErrorCode);
        fetch = h.Call<OffsetFetchResponse>(c, ApiKey.OffsetFetch, 9, new OffsetFetchRequest
        {
            Groups = [new() { GroupId = "g", MemberId = a.MemberId, MemberEpoch = a.MemberEpoch, Topics = [new() { Name = "t", PartitionIndexes = [1] }] }],
        });
        Assert.Equal(42, fetch.Groups[0].Topics[0].Partitions[0].CommittedOffset);

        // Leaving empties the group; ListGroups and DescribeGroups show its state and type.
        Assert.Equal(-1, Call(h, c, Beat(a.MemberId!, -1, null, id)).MemberEpoch);
        var listed = h.Call<ListGroupsResponse>(c, ApiKey.ListGroups, 4, new ListGroupsRequest());
        var entry = Assert.Single(listed.Groups, x => x.GroupId == "g");
        Assert.Equal("consumer", entry.ProtocolType);
        Assert.Equal("Empty", entry.GroupState);
        var consumers = h.Call<ListGroupsResponse>(c, ApiKey.ListGroups, 5, new ListGroupsRequest { TypesFilter = ["CONSUMER"] });
        Assert.Equal("consumer", Assert.Single(consumers.Groups, x => x.GroupId == "g").GroupType);
        Assert.DoesNotContain(h.Call<ListGroupsResponse>(c, ApiKey.ListGroups, 5, new ListGroupsRequest { TypesFilter = ["classic"] }).Groups, x => x.GroupId == "g");
        var described = h.Call<ConsumerGroupDescribeResponse>(c, ApiKey.ConsumerGroupDescribe, 0, new ConsumerGroupDescribeRequest { GroupIds = ["g", "nope"] });
        Assert.Equal("Empty", described.Groups[0].GroupState);
        Assert.Equal(ErrorCode.GroupIdNotFound, described.Groups[1].ErrorCode);
    }

    [Fact]
    public void A_regex_subscription_picks_up_a_topic_created_later_and_partitions_added()
    {
        var h = Harness(partitions: 1);
        var c = h.Connect();
        var a = Call(h, c, Join(regex: "t.*"));
        Assert.Equal([0], Parts(a));
        Assert.Equal(ErrorCode.None, h.Node.CreateTopic("t2", 2, [], validateOnly: false, out _).Error);
        var b = Call(h, c, Beat(a.MemberId!, a.MemberEpoch, null, Guid.Empty));
        Assert.Equal(3, b.Assignment!.TopicPartitions.Sum(t => t.Partitions.Count));
        Assert.Contains(b.Assignment.TopicPartitions, t => t.TopicId == h.Node.FindTopic("t2")!.TopicId);
        var described = h.Call<ConsumerGroupDescribeResponse>(c, ApiKey.ConsumerGroupDescribe, 1, new ConsumerGroupDescribeRequest { GroupIds = ["g"] });
        var m = Assert.Single(described.Groups[0].Members);
        Assert.Equal("t.*", m.SubscribedTopicRegex);
        Assert.Equal(["t", "t2"], m.Assignment.TopicPartitions.Select(t => t.TopicName).OrderBy(x => x, StringComparer.Ordinal));
        Assert.Equal(1, m.MemberType);
    }
}
