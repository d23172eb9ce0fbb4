using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Core.Groups;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Records;
using DetKafka.Properties.Broker;
using Xunit;

namespace DetKafka.Properties.Groups;

/// <summary>The group coordinator driven through real request frames (BrokerHarness: simulated disk, manual clock).</summary>
public sealed class GroupCoordinatorTests
{
    private static BrokerConfig Config(int initialDelay = 0, Dictionary<string, string>? topicDefaults = null) => new()
    {
        NodeId = 1,
        DataDirectory = "data",
        OffsetsTopicNumPartitions = 5,
        GroupInitialRebalanceDelayMs = initialDelay,
        TopicConfigDefaults = topicDefaults ?? new Dictionary<string, string>(),
    };

    private static BrokerHarness WithTopic(string topic = "t", int partitions = 3, BrokerConfig? config = null)
    {
        var h = new BrokerHarness(config ?? Config());
        var (error, _) = h.Node.CreateTopic(topic, partitions, [], validateOnly: false, out _);
        Assert.Equal(ErrorCode.None, error);
        return h;
    }

    private static JoinGroupRequest Join(string group, string memberId = "", string? instance = null, string protocolType = "consumer",
        int session = 10_000, params string[] protocols) => new()
    {
        GroupId = group,
        MemberId = memberId,
        GroupInstanceId = instance,
        SessionTimeoutMs = session,
        RebalanceTimeoutMs = 20_000,
        ProtocolType = protocolType,
        Protocols = (protocols.Length == 0 ? ["range"] : protocols)
            .Select(p => new JoinGroupRequest.JoinGroupRequestProtocol { Name = p, Metadata = new byte[] { 0, 1, 2 } }).ToList(),
    };

    /// <summary>Joins as a new dynamic member (MEMBER_ID_REQUIRED first, v5) and waits for the generation.</summary>
    private static JoinGroupResponse JoinNew(BrokerHarness h, ConnectionId c, string group)
    {
        var first = h.Call<JoinGroupResponse>(c, ApiKey.JoinGroup, 5, Join(group));
        Assert.Equal(ErrorCode.MemberIdRequired, first.ErrorCode);
        Assert.NotEqual("", first.MemberId);
        var joined = h.Call<JoinGroupResponse>(c, ApiKey.JoinGroup, 5, Join(group, first.MemberId));
        Assert.Equal(ErrorCode.None, joined.ErrorCode);
        return joined;
    }

    private static SyncGroupResponse Sync(BrokerHarness h, ConnectionId c, string group, JoinGroupResponse joined, params (string Member, byte[] Assignment)[] assignments)
        => h.Call<SyncGroupResponse>(c, ApiKey.SyncGroup, 3, new SyncGroupRequest
        {
            GroupId = group,
            GenerationId = joined.GenerationId,
            MemberId = joined.MemberId,
            Assignments = assignments.Select(a => new SyncGroupRequest.SyncGroupRequestAssignment { MemberId = a.Member, Assignment = a.Assignment }).ToList(),
        });

    private static ErrorCode Heartbeat(BrokerHarness h, ConnectionId c, string group, string member, int generation, string? instance = null)
        => h.Call<HeartbeatResponse>(c, ApiKey.Heartbeat, 4, new HeartbeatRequest { GroupId = group, MemberId = member, GenerationId = generation, GroupInstanceId = instance }).ErrorCode;

    private static OffsetCommitRequest Commit(string group, string topic, int partition, long offset, int generation = -1, string member = "") => new()
    {
        GroupId = group,
        GenerationId = generation,
        MemberId = member,
        Topics = [new() { Name = topic, Partitions = [new() { PartitionIndex = partition, CommittedOffset = offset, CommittedMetadata = "m" }] }],
    };

    private static long Fetched(BrokerHarness h, ConnectionId c, string group, string topic, int partition)
    {
        var r = h.Call<OffsetFetchResponse>(c, ApiKey.OffsetFetch, 7, new OffsetFetchRequest
        {
            GroupId = group,
            Topics = [new() { Name = topic, PartitionIndexes = [partition] }],
        });
        Assert.Equal(ErrorCode.None, r.ErrorCode);
        return r.Topics.Single().Partitions.Single().CommittedOffset;
    }

    [Theory]
    [InlineData("", 0)]
    [InlineData("a", 97)]
    [InlineData("hello", 99162322)]
    [InlineData("Hello World", -862545276)]
    [InlineData("polygenelubricants", int.MinValue)]
    public void Java_string_hash_code_matches_Java(string s, int expected)
        => Assert.Equal(expected, GroupRecords.JavaStringHashCode(s));

    [Fact]
    public void Partition_for_a_group_is_Kafkas_abs_hash_mod_partitions()
    {
        Assert.Equal(0, GroupRecords.PartitionFor("polygenelubricants", 50)); // Utils.abs(MinValue) = 0
        Assert.Equal(99162322 % 50, GroupRecords.PartitionFor("hello", 50));
        Assert.Equal(862545276 % 50, GroupRecords.PartitionFor("Hello World", 50));
    }

    [Fact]
    public void First_join_gets_member_id_required_then_a_generation_and_the_leaders_assignment_after_sync()
    {
        var h = WithTopic();
        var c = h.Connect();
        var find = h.Call<FindCoordinatorResponse>(c, ApiKey.FindCoordinator, 0, new FindCoordinatorRequest { Key = "g" });
        Assert.Equal(ErrorCode.None, find.ErrorCode);
        Assert.Equal(1, find.NodeId);
        var joined = JoinNew(h, c, "g");
        Assert.Equal(1, joined.GenerationId);
        Assert.Equal(joined.MemberId, joined.Leader);
        Assert.Equal("range", joined.ProtocolName);
        Assert.Single(joined.Members);

        var sync = Sync(h, c, "g", joined, (joined.MemberId, new byte[] { 9, 9 }));
        Assert.Equal(ErrorCode.None, sync.ErrorCode);
        Assert.Equal(new byte[] { 9, 9 }, sync.Assignment.ToArray());
        Assert.Equal(ErrorCode.None, Heartbeat(h, c, "g", joined.MemberId, 1));
        Assert.Equal(ErrorCode.IllegalGeneration, Heartbeat(h, c, "g", joined.MemberId, 0));
        Assert.Equal(ErrorCode.UnknownMemberId, Heartbeat(h, c, "g", "nobody", 1));
        Assert.Equal(GroupState.Stable, h.Node.Groups.FindGroup("g")!.State);
    }

    [Fact]
    public void Transaction_coordinator_lookup_creates_the_state_topic_and_an_empty_group_id_is_invalid()
    {
        var h = WithTopic();
        var c = h.Connect();
        Assert.Equal(ErrorCode.None, h.Call<FindCoordinatorResponse>(c, ApiKey.FindCoordinator, 1,
            new FindCoordinatorRequest { Key = "tx", KeyType = 1 }).ErrorCode);
        Assert.NotNull(h.Node.FindTopic(DetKafka.Core.Transactions.TransactionRecords.StateTopic));
        var v4 = h.Call<FindCoordinatorResponse>(c, ApiKey.FindCoordinator, 4, new FindCoordinatorRequest { CoordinatorKeys = ["g1", ""] });
        Assert.Equal([ErrorCode.None, ErrorCode.InvalidRequest], v4.Coordinators.Select(x => x.ErrorCode));
    }

    [Fact]
    public void Join_with_an_empty_or_different_protocol_type_gets_inconsistent_group_protocol()
    {
        var h = WithTopic();
        var c = h.Connect();
        Assert.Equal(ErrorCode.InconsistentGroupProtocol, h.Call<JoinGroupResponse>(c, ApiKey.JoinGroup, 3, Join("g", protocolType: "")).ErrorCode);
        JoinNew(h, c, "g");
        var other = h.Connect();
        Assert.Equal(ErrorCode.InconsistentGroupProtocol, h.Call<JoinGroupResponse>(other, ApiKey.JoinGroup, 3, Join("g", protocolType: "connect")).ErrorCode);
        Assert.Equal(ErrorCode.InconsistentGroupProtocol, h.Call<JoinGroupResponse>(other, ApiKey.JoinGroup, 3, Join("g", protocols: "roundrobin")).ErrorCode);
        Assert.Equal(ErrorCode.InvalidSessionTimeout, h.Call<JoinGroupResponse>(other, ApiKey.JoinGroup, 3, Join("g", session: 10)).ErrorCode);
    }

    [Fact]
    public void Sync_from_a_stale_generation_gets_illegal_generation()
    {
        var h = WithTopic();
        var c = h.Connect();
        var joined = JoinNew(h, c, "g");
        var stale = new JoinGroupResponse { GenerationId = joined.GenerationId - 1, MemberId = joined.MemberId };
        Assert.Equal(ErrorCode.IllegalGeneration, Sync(h, c, "g", stale).ErrorCode);
        Assert.Equal(ErrorCode.UnknownMemberId, Sync(h, c, "nope", joined).ErrorCode);
    }

    [Fact]
    public void An_oversized_assignment_gets_an_error_and_the_broker_keeps_serving()
    {
        var h = WithTopic(config: Config(topicDefaults: new() { ["max.message.bytes"] = "2000" }));
        var c = h.Connect();
        var joined = JoinNew(h, c, "g");
        var sync = Sync(h, c, "g", joined, (joined.MemberId, new byte[50_000]));
        Assert.Equal(ErrorCode.UnknownServerError, sync.ErrorCode);
        Assert.Equal(GroupState.PreparingRebalance, h.Node.Groups.FindGroup("g")!.State);
        // The member rejoins and a small assignment goes through.
        var again = h.Call<JoinGroupResponse>(c, ApiKey.JoinGroup, 5, Join("g", joined.MemberId));
        Assert.Equal(ErrorCode.None, again.ErrorCode);
        Assert.Equal(ErrorCode.None, Sync(h, c, "g", again, (again.MemberId, new byte[] { 1 })).ErrorCode);
    }

    [Fact]
    public void A_commit_for_an_unknown_topic_or_partition_gets_unknown_topic_or_partition()
    {
        var h = WithTopic();
        var c = h.Connect();
        var r = h.Call<OffsetCommitResponse>(c, ApiKey.OffsetCommit, 2, Commit("g", "missing", 0, 5));
        Assert.Equal(ErrorCode.UnknownTopicOrPartition, r.Topics.Single().Partitions.Single().ErrorCode);
        r = h.Call<OffsetCommitResponse>(c, ApiKey.OffsetCommit, 8, Commit("g", "t", 7, 5));
        Assert.Equal(ErrorCode.UnknownTopicOrPartition, r.Topics.Single().Partitions.Single().ErrorCode);
    }

    [Fact]
    public void A_commit_is_answered_only_once_durable_and_survives_a_crash_while_an_unsynced_one_does_not()
    {
        var h = WithTopic();
        var c = h.Connect();
        int correlation = h.Send(c, ApiKey.OffsetCommit, 8, Commit("g", "t", 1, 42));
        Assert.Empty(h.Network.TakeFrames(c)); // waiting for the sync
        h.CompleteSyncs();
        var answered = h.Responses<OffsetCommitResponse>(c, ApiKey.OffsetCommit, 8).Single();
        Assert.Equal(correlation, answered.CorrelationId);
        Assert.Equal(ErrorCode.None, answered.Body.Topics[0].Partitions[0].ErrorCode);
        Assert.Equal(42, Fetched(h, c, "g", "t", 1));

        h.Send(c, ApiKey.OffsetCommit, 8, Commit("g", "t", 1, 99)); // never synced: never acknowledged
        Assert.Empty(h.Network.TakeFrames(c));
        h.CrashAndRestart();
        var c2 = h.Connect();
        Assert.Equal(42, Fetched(h, c2, "g", "t", 1));
        Assert.Equal(-1, Fetched(h, c2, "g", "t", 0));
    }

    [Fact]
    public void Group_membership_survives_a_restart_and_members_resume_with_heartbeats()
    {
        var h = WithTopic();
        var c = h.Connect();
        var joined = JoinNew(h, c, "g");
        Assert.Equal(ErrorCode.None, Sync(h, c, "g", joined, (joined.MemberId, new byte[] { 7 })).ErrorCode);
        h.CrashAndRestart();
        var c2 = h.Connect();
        Assert.Equal(ErrorCode.None, Heartbeat(h, c2, "g", joined.MemberId, joined.GenerationId));
        Assert.Equal(new byte[] { 7 }, Sync(h, c2, "g", joined).Assignment.ToArray());
    }

    [Fact]
    public void A_member_that_stops_heartbeating_is_removed_after_its_session_timeout()
    {
        var h = WithTopic();
        var a = h.Connect();
        var joined = JoinNew(h, a, "g");
        Sync(h, a, "g", joined, (joined.MemberId, [1]));
        h.AdvanceTime(9_000);
        Assert.Equal(ErrorCode.None, Heartbeat(h, a, "g", joined.MemberId, 1));
        h.AdvanceTime(9_000);
        Assert.Equal(GroupState.Stable, h.Node.Groups.FindGroup("g")!.State);
        h.AdvanceTime(2_000);
        var g = h.Node.Groups.FindGroup("g")!;
        Assert.Equal(GroupState.Empty, g.State);
        Assert.Equal(2, g.GenerationId);
        Assert.Equal(ErrorCode.UnknownMemberId, Heartbeat(h, a, "g", joined.MemberId, 1));
    }

    [Fact]
    public void A_second_member_triggers_a_rebalance_the_first_learns_of_by_heartbeat_and_both_get_the_next_generation()
    {
        var h = WithTopic();
        var a = h.Connect();
        var ja = JoinNew(h, a, "g");
        Sync(h, a, "g", ja, (ja.MemberId, [1]));
        var b = h.Connect();
        var first = h.Call<JoinGroupResponse>(b, ApiKey.JoinGroup, 5, Join("g"));
        h.Send(b, ApiKey.JoinGroup, 5, Join("g", first.MemberId)); // waits for a to rejoin
        Assert.Equal(ErrorCode.RebalanceInProgress, Heartbeat(h, a, "g", ja.MemberId, 1));
        var ja2 = h.Call<JoinGroupResponse>(a, ApiKey.JoinGroup, 5, Join("g", ja.MemberId));
        var jb2 = h.Responses<JoinGroupResponse>(b, ApiKey.JoinGroup, 5).Single().Body;
        Assert.Equal(2, ja2.GenerationId);
        Assert.Equal(2, jb2.GenerationId);
        Assert.Equal(ja.MemberId, ja2.Leader);
        Assert.Equal(2, ja2.Members.Count);
        Assert.Empty(jb2.Members);
        // b's sync waits for the leader's.
        h.Send(b, ApiKey.SyncGroup, 3, new SyncGroupRequest { GroupId = "g", GenerationId = 2, MemberId = jb2.MemberId });
        Assert.Empty(h.Network.TakeFrames(b));
        Assert.Equal(new byte[] { 1 }, Sync(h, a, "g", ja2, (ja2.MemberId, [1]), (jb2.MemberId, [2])).Assignment.ToArray());
        Assert.Equal(new byte[] { 2 }, h.Responses<SyncGroupResponse>(b, ApiKey.SyncGroup, 3).Single().Body.Assignment.ToArray());
    }

    [Fact]
    public void A_static_member_restarting_within_its_session_keeps_the_generation_and_fences_its_old_id()
    {
        var h = WithTopic();
        var c = h.Connect();
        var joined = h.Call<JoinGroupResponse>(c, ApiKey.JoinGroup, 5, Join("g", instance: "i1"));
        Assert.Equal(ErrorCode.None, joined.ErrorCode); // static members skip MEMBER_ID_REQUIRED
        Sync(h, c, "g", joined, (joined.MemberId, [5]));
        var c2 = h.Connect();
        var rejoined = h.Call<JoinGroupResponse>(c2, ApiKey.JoinGroup, 5, Join("g", instance: "i1"));
        Assert.Equal(ErrorCode.None, rejoined.ErrorCode);
        Assert.Equal(joined.GenerationId, rejoined.GenerationId);
        Assert.NotEqual(joined.MemberId, rejoined.MemberId);
        Assert.Equal(ErrorCode.FencedInstanceId, Heartbeat(h, c, "g", joined.MemberId, joined.GenerationId, "i1"));
        Assert.Equal(ErrorCode.None, Heartbeat(h, c2, "g", rejoined.MemberId, rejoined.GenerationId, "i1"));
        Assert.Equal(new byte[] { 5 }, Sync(h, c2, "g", rejoined).Assignment.ToArray());
    }

    [Fact]
    public void A_static_member_rejoining_is_answered_only_after_the_old_instances_commit_in_flight_is_durable()
    {
        // Sim seed 10969: the old instance's commit (97) was still in flight behind slow fsyncs when the instance
        // restarted; its rejoin was answered at once, its OffsetFetch read the offset from before that commit, it
        // started at 0 and its own commit of 0 landed after the 97: the group's offset went backwards. Kafka
        // persists the group with the new member id before answering, and that write is ordered after the commit.
        var h = WithTopic();
        var c = h.Connect();
        var joined = h.Call<JoinGroupResponse>(c, ApiKey.JoinGroup, 5, Join("g", instance: "i1"));
        Sync(h, c, "g", joined, (joined.MemberId, [5]));
        Assert.Equal(ErrorCode.None, h.Call<OffsetCommitResponse>(c, ApiKey.OffsetCommit, 8,
            Commit("g", "t", 0, 3, joined.GenerationId, joined.MemberId)).Topics[0].Partitions[0].ErrorCode);
        h.Send(c, ApiKey.OffsetCommit, 8, Commit("g", "t", 0, 97, joined.GenerationId, joined.MemberId));
        Assert.Empty(h.Network.TakeFrames(c)); // not durable yet: its sync has not completed

        var c2 = h.Connect(); // the instance restarted before its commit was answered
        h.Send(c2, ApiKey.JoinGroup, 5, Join("g", instance: "i1"));
        Assert.Empty(h.Network.TakeFrames(c2)); // the join waits for the group's write, after the commit in the log
        var answers = new List<(int, JoinGroupResponse Body)>();
        for (int round = 0; round < 10 && answers.Count == 0; round++)
        {
            Assert.True(h.CompleteSyncs() > 0, "the join waits on a sync");
            answers = h.Responses<JoinGroupResponse>(c2, ApiKey.JoinGroup, 5);
        }
        var rejoined = answers.Single().Body;
        Assert.Equal(ErrorCode.None, rejoined.ErrorCode);
        Assert.Equal(joined.GenerationId, rejoined.GenerationId);
        Assert.Equal(97, Fetched(h, c2, "g", "t", 0)); // where the new instance resumes: the old one's last commit
        Assert.Equal(ErrorCode.None, h.Responses<OffsetCommitResponse>(c, ApiKey.OffsetCommit, 8).Single().Body.Topics[0].Partitions[0].ErrorCode);
        Assert.Equal(ErrorCode.FencedInstanceId, Heartbeat(h, c, "g", joined.MemberId, joined.GenerationId, "i1"));
    }

    [Fact]
    public void Commits_check_the_generation_and_member_and_delete_groups_needs_an_empty_group()
    {
        var h = WithTopic();
        var c = h.Connect();
        var joined = JoinNew(h, c, "g");
        var r = h.Call<OffsetCommitResponse>(c, ApiKey.OffsetCommit, 8, Commit("g", "t", 0, 3, joined.GenerationId, joined.MemberId));
        Assert.Equal(ErrorCode.RebalanceInProgress, r.Topics[0].Partitions[0].ErrorCode); // CompletingRebalance
        Sync(h, c, "g", joined, (joined.MemberId, [1]));
        r = h.Call<OffsetCommitResponse>(c, ApiKey.OffsetCommit, 8, Commit("g", "t", 0, 3, joined.GenerationId, joined.MemberId));
        Assert.Equal(ErrorCode.None, r.Topics[0].Partitions[0].ErrorCode);
        r = h.Call<OffsetCommitResponse>(c, ApiKey.OffsetCommit, 8, Commit("g", "t", 0, 4, joined.GenerationId + 1, joined.MemberId));
        Assert.Equal(ErrorCode.IllegalGeneration, r.Topics[0].Partitions[0].ErrorCode);
        r = h.Call<OffsetCommitResponse>(c, ApiKey.OffsetCommit, 8, Commit("g", "t", 0, 4, joined.GenerationId, "stranger"));
        Assert.Equal(ErrorCode.UnknownMemberId, r.Topics[0].Partitions[0].ErrorCode);
        Assert.Equal(3, Fetched(h, c, "g", "t", 0));

        var del = h.Call<DeleteGroupsResponse>(c, ApiKey.DeleteGroups, 2, new DeleteGroupsRequest { GroupsNames = ["g", "unknown"] });
        Assert.Equal([ErrorCode.NonEmptyGroup, ErrorCode.GroupIdNotFound], del.Results.Select(x => x.ErrorCode));
        var leave = h.Call<LeaveGroupResponse>(c, ApiKey.LeaveGroup, 3, new LeaveGroupRequest { GroupId = "g", Members = [new() { MemberId = joined.MemberId }] });
        Assert.Equal(ErrorCode.None, leave.Members.Single().ErrorCode);
        Assert.Equal(GroupState.Empty, h.Node.Groups.FindGroup("g")!.State);
        del = h.Call<DeleteGroupsResponse>(c, ApiKey.DeleteGroups, 2, new DeleteGroupsRequest { GroupsNames = ["g"] });
        Assert.Equal(ErrorCode.None, del.Results.Single().ErrorCode);
        Assert.Null(h.Node.Groups.FindGroup("g"));
        h.CrashAndRestart();
        var c2 = h.Connect();
        Assert.Equal(-1, Fetched(h, c2, "g", "t", 0));
        Assert.Null(h.Node.Groups.FindGroup("g"));
    }

    [Fact]
    public void Offsets_of_an_empty_group_expire_after_the_retention_and_stay_expired_after_a_restart()
    {
        var h = WithTopic();
        var c = h.Connect();
        h.Call<OffsetCommitResponse>(c, ApiKey.OffsetCommit, 2, Commit("g", "t", 2, 11));
        Assert.Equal(11, Fetched(h, c, "g", "t", 2));
        long retentionMs = h.Config.OffsetsRetentionMinutes * 60_000;
        for (long t = 0; t < retentionMs + 2 * h.Config.OffsetsRetentionCheckIntervalMs; t += h.Config.OffsetsRetentionCheckIntervalMs)
            h.AdvanceTime(h.Config.OffsetsRetentionCheckIntervalMs);
        h.CompleteSyncs();
        Assert.Equal(-1, Fetched(h, c, "g", "t", 2));
        h.CrashAndRestart();
        Assert.Equal(-1, Fetched(h, h.Connect(), "g", "t", 2));
    }

    [Fact]
    public void Clients_cannot_produce_to_the_internal_topic_and_metadata_marks_it_internal()
    {
        var h = WithTopic();
        var c = h.Connect();
        h.Call<FindCoordinatorResponse>(c, ApiKey.FindCoordinator, 0, new FindCoordinatorRequest { Key = "g" });
        var produce = h.Call<ProduceResponse>(c, ApiKey.Produce, 7, new ProduceRequest
        {
            Acks = -1,
            TimeoutMs = 1000,
            TopicData = [new() { Name = GroupRecords.OffsetsTopic, PartitionData = [new() { Index = 0, Records = RecordBatchBuilder.Build(1, CompressionCodec.None, [1]) }] }],
        });
        Assert.Equal(ErrorCode.InvalidTopicException, produce.Responses[0].PartitionResponses[0].ErrorCode);
        var md = h.Call<MetadataResponse>(c, ApiKey.Metadata, 9, new MetadataRequest { Topics = null });
        var internalTopic = md.Topics.Single(t => t.Name == GroupRecords.OffsetsTopic);
        Assert.True(internalTopic.IsInternal);
        Assert.Equal(5, internalTopic.Partitions.Count);
        Assert.Equal("compact", h.Node.FindTopic(GroupRecords.OffsetsTopic)!.ConfigOverrides["cleanup.policy"]);
    }

    [Fact]
    public void List_and_describe_groups_report_state_protocol_and_members()
    {
        var h = WithTopic();
        var c = h.Connect();
        var joined = JoinNew(h, c, "g2");
        Sync(h, c, "g2", joined, (joined.MemberId, [3]));
        h.Call<OffsetCommitResponse>(c, ApiKey.OffsetCommit, 2, Commit("g1", "t", 0, 1));
        var list = h.Call<ListGroupsResponse>(c, ApiKey.ListGroups, 4, new ListGroupsRequest());
        Assert.Equal(["g1", "g2"], list.Groups.Select(g => g.GroupId));
        Assert.Equal(["Empty", "Stable"], list.Groups.Select(g => g.GroupState));
        var stable = h.Call<ListGroupsResponse>(c, ApiKey.ListGroups, 4, new ListGroupsRequest { StatesFilter = ["stable"] });
        Assert.Equal(["g2"], stable.Groups.Select(g => g.GroupId));
        var v5 = h.Call<ListGroupsResponse>(c, ApiKey.ListGroups, 5, new ListGroupsRequest { TypesFilter = ["Classic"] });
        Assert.Equal(["g1", "g2"], v5.Groups.Select(g => g.GroupId));
        Assert.Equal(["classic", "classic"], v5.Groups.Select(g => g.GroupType));
        Assert.Empty(h.Call<ListGroupsResponse>(c, ApiKey.ListGroups, 5, new ListGroupsRequest { TypesFilter = ["consumer"] }).Groups);
        var d = h.Call<DescribeGroupsResponse>(c, ApiKey.DescribeGroups, 5, new DescribeGroupsRequest { Groups = ["g2", "nope"] });
        Assert.Equal("Stable", d.Groups[0].GroupState);
        Assert.Equal("range", d.Groups[0].ProtocolData);
        Assert.Equal(new byte[] { 3 }, d.Groups[0].Members.Single().MemberAssignment.ToArray());
        Assert.Equal("Dead", d.Groups[1].GroupState);
    }
}
