using DetKafka.Core.Broker;
using DetKafka.Core.Groups;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Raft;
using Xunit;

namespace DetKafka.Properties.Quorum;

/// <summary>
/// The group coordinator follows the leadership of its replicated <c>__consumer_offsets</c> partition (issues 7/8;
/// REPLICATION.md "Coordinators on replicated partitions"), on three BrokerNodes over the wire protocol: the offsets
/// topic is created replicated on the first FindCoordinator, a member joins and commits at the coordinator the lookup
/// names, the coordinator is cut off (a commit there must not be acknowledged: no majority can have it) and crashes,
/// the member finds the new coordinator (FindCoordinator at a survivor), which loaded the group below its high
/// watermark, and continues in the same generation from every acknowledged commit. The restarted old coordinator
/// answers NOT_COORDINATOR and names the new one. Planted bugs: a commit acknowledged before it is replicated loses an
/// acknowledged offset; a coordinator loading above its high watermark serves before its epoch's first entry committed.
/// </summary>
public class CoordinatorFailoverTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const string Group = "g";
    private const string Topic = "t";

    private static QuorumCluster Cluster(int seed, GroupFaults faults)
    {
        var c = new QuorumCluster(3, seed, (_, config) => new BrokerConfig
        {
            NodeId = config.NodeId, AdvertisedHost = config.AdvertisedHost, AdvertisedPort = config.AdvertisedPort, DataDirectory = config.DataDirectory,
            ControllerQuorumVoters = config.ControllerQuorumVoters, AutoCreateTopicsEnable = config.AutoCreateTopicsEnable,
            OffsetsTopicNumPartitions = 3,
        });
        foreach (var n in c.Nodes) n!.Groups.Faults = faults;
        return c;
    }

    private static FindCoordinatorResponse? Find(QuorumCluster c, int node)
        => c.Ask<FindCoordinatorResponse>(node, ApiKey.FindCoordinator, 3, new FindCoordinatorRequest { Key = Group, KeyType = FindCoordinatorRequest.KeyTypeGroup });

    /// <summary>Asks <paramref name="node"/> for the group's coordinator until one is named (index), as a client
    /// retries COORDINATOR_NOT_AVAILABLE.</summary>
    private static int FindCoordinator(QuorumCluster c, int node, int not = -1)
    {
        for (int attempt = 0; attempt < 300; attempt++)
        {
            var r = Find(c, node);
            if (r is { ErrorCode: ErrorCode.None } && r.NodeId - 1 != not) return r.NodeId - 1;
            c.RunFor(100);
        }
        return -1;
    }

    private static ErrorCode Commit(QuorumCluster c, int node, int generation, string member, long offset, int maxMs = 30_000)
    {
        var r = c.Ask<OffsetCommitResponse>(node, ApiKey.OffsetCommit, 8, new OffsetCommitRequest
        {
            GroupId = Group, GenerationId = generation, MemberId = member,
            Topics = [new OffsetCommitRequest.OffsetCommitRequestTopic { Name = Topic, Partitions = [new OffsetCommitRequest.OffsetCommitRequestPartition { PartitionIndex = 0, CommittedOffset = offset }] }],
        }, maxMs);
        return r is null ? ErrorCode.RequestTimedOut : r.Topics.Single().Partitions.Single().ErrorCode;
    }

    private static (ErrorCode Error, long Offset) Fetch(QuorumCluster c, int node)
    {
        var r = c.Ask<OffsetFetchResponse>(node, ApiKey.OffsetFetch, 6, new OffsetFetchRequest
        {
            GroupId = Group, Topics = [new OffsetFetchRequest.OffsetFetchRequestTopic { Name = Topic, PartitionIndexes = [0] }],
        });
        if (r is null) return (ErrorCode.RequestTimedOut, -1);
        if (r.ErrorCode != ErrorCode.None) return (r.ErrorCode, -1);
        var p = r.Topics.Single().Partitions.Single();
        return (p.ErrorCode, p.CommittedOffset);
    }

    /// <summary>Every loaded __consumer_offsets partition on every node is led there with its epoch's first entry
    /// below the high watermark (so nothing above it was loaded). Null when it holds.</summary>
    private static string? CheckLoadedBelowHighWatermark(QuorumCluster c)
    {
        foreach (var n in c.Nodes)
        {
            if (n is null) continue;
            foreach (int p in n.Groups.LoadedPartitions)
            {
                var partition = n.Replicas.GetPartition(GroupRecords.OffsetsTopic, p);
                if (partition?.Replica is not { } r) continue;
                if (r.Raft.Role != RaftRole.Leader || partition.HighWatermark <= r.Raft.EpochStartOffset)
                    return $"node {n.Config.NodeId} serves {GroupRecords.OffsetsTopic}-{p} loaded at high watermark {partition.HighWatermark}, its epoch starting at {r.Raft.EpochStartOffset}";
            }
        }
        return null;
    }

    /// <summary>The scenario; null when every acknowledged commit survives and the member continues, else what broke.</summary>
    public static string? RunFailover(int seed, GroupFaults faults, Action<string>? trace, out int acknowledged)
    {
        acknowledged = 0;
        var c = Cluster(seed, faults);
        string? invariant = null;
        c.AfterStep = () => invariant ??= CheckLoadedBelowHighWatermark(c);
        if (!c.Run(() => c.Controller() >= 0)) return "no controller";
        if (c.CreateTopic(c.Controller(), Topic, 1, 3)?.ErrorCode != ErrorCode.None) return "the consumed topic was not created";
        int coordinator = FindCoordinator(c, seed % 3);
        if (coordinator < 0) return "no coordinator named: " + c.Describe();
        var topic = c.Nodes[coordinator]!.FindTopic(GroupRecords.OffsetsTopic)!;
        if (topic.Replicas.Any(r => r.Length != 3)) return "__consumer_offsets is not replicated 3 ways";

        // One member joins (v3: no MEMBER_ID_REQUIRED round) and syncs; a load in progress is retried.
        JoinGroupResponse? join = null;
        for (int attempt = 0; attempt < 100 && join is not { ErrorCode: ErrorCode.None }; attempt++)
        {
            join = c.Ask<JoinGroupResponse>(coordinator, ApiKey.JoinGroup, 3, new JoinGroupRequest
            {
                GroupId = Group, SessionTimeoutMs = 30_000, RebalanceTimeoutMs = 30_000, MemberId = "", ProtocolType = "consumer",
                Protocols = [new JoinGroupRequest.JoinGroupRequestProtocol { Name = "range", Metadata = new byte[] { 0, 1 } }],
            });
            if (join is not { ErrorCode: ErrorCode.None }) c.RunFor(100);
        }
        if (join is not { ErrorCode: ErrorCode.None }) return $"join: {join?.ErrorCode}";
        string member = join.MemberId;
        int generation = join.GenerationId;
        var sync = c.Ask<SyncGroupResponse>(coordinator, ApiKey.SyncGroup, 3, new SyncGroupRequest
        {
            GroupId = Group, GenerationId = generation, MemberId = member,
            Assignments = [new SyncGroupRequest.SyncGroupRequestAssignment { MemberId = member, Assignment = new byte[] { 1, 2, 3 } }],
        });
        if (sync is not { ErrorCode: ErrorCode.None }) return $"sync: {sync?.ErrorCode}";

        long committed = -1;
        for (long o = 1; o <= 20; o++)
        {
            var e = Commit(c, coordinator, generation, member, o * 10);
            trace?.Invoke($"t={c.Clock.MonotonicMs} commit {o * 10} at node {coordinator + 1}: {e}");
            if (e == ErrorCode.None) { committed = o * 10; acknowledged++; }
        }
        if (committed != 200) return $"commits at a healthy coordinator failed (last acknowledged {committed})";

        // The coordinator alone: a commit there must not be acknowledged (no majority can have it).
        for (int o = 0; o < 3; o++) if (o != coordinator) c.Cut(coordinator, o);
        var lonely = Commit(c, coordinator, generation, member, 999, maxMs: 8_000);
        trace?.Invoke($"t={c.Clock.MonotonicMs} lonely commit at node {coordinator + 1}: {lonely}");
        if (lonely == ErrorCode.None) { committed = 999; acknowledged++; }
        c.Crash(coordinator);
        c.Heal();

        // The member looks for its coordinator at a survivor, as a client does after NOT_COORDINATOR.
        int survivor = (coordinator + 1) % 3;
        int fresh = -1;
        (ErrorCode Error, long Offset) fetched = (ErrorCode.CoordinatorNotAvailable, -1);
        for (int attempt = 0; attempt < 300; attempt++)
        {
            if (invariant is not null) return invariant;
            fresh = FindCoordinator(c, survivor, not: coordinator);
            if (fresh < 0) return "no new coordinator: " + c.Describe();
            fetched = Fetch(c, fresh);
            if (invariant is not null) return invariant;
            if (fetched.Error == ErrorCode.None) break;
            trace?.Invoke($"t={c.Clock.MonotonicMs} fetch at node {fresh + 1}: {fetched.Error}");
            c.RunFor(50);
        }
        if (fetched.Error != ErrorCode.None) return $"offset fetch at the new coordinator: {fetched.Error}";
        trace?.Invoke($"t={c.Clock.MonotonicMs} new coordinator node {fresh + 1} answers {fetched.Offset}");
        if (fetched.Offset != committed) return $"the new coordinator (node {fresh + 1}) answers offset {fetched.Offset}, the last acknowledged commit was {committed}";

        // The member continues in its generation there.
        var heartbeat = c.Ask<HeartbeatResponse>(fresh, ApiKey.Heartbeat, 3, new HeartbeatRequest { GroupId = Group, GenerationId = generation, MemberId = member });
        if (heartbeat is not { ErrorCode: ErrorCode.None }) return $"heartbeat at the new coordinator: {heartbeat?.ErrorCode}";
        var next = Commit(c, fresh, generation, member, committed + 1);
        if (next != ErrorCode.None) return $"commit at the new coordinator: {next}";
        acknowledged++;
        if (Fetch(c, fresh) != (ErrorCode.None, committed + 1)) return "the new commit is not read back";

        // The old coordinator restarts as a follower: NOT_COORDINATOR there, and it names the new one.
        c.Start(coordinator);
        if (!c.Run(() => c.Nodes[coordinator]!.Replicas.GetPartition(GroupRecords.OffsetsTopic, c.Nodes[fresh]!.Groups.PartitionFor(Group)) is { Replica: not null } p
                && p.LeaderId == fresh + 1, 30_000)) return "the old coordinator does not rejoin: " + c.Describe();
        var stale = Commit(c, coordinator, generation, member, committed + 2);
        if (stale != ErrorCode.NotCoordinator) return $"a commit at the old coordinator: {stale}";
        if (FindCoordinator(c, coordinator) != fresh) return "the old coordinator does not name the new one";
        if (Fetch(c, fresh) != (ErrorCode.None, committed + 1)) return "the offset changed after the old coordinator rejoined";
        return invariant;
    }

    [Fact]
    public void Members_continue_from_every_acknowledged_commit_at_the_new_coordinator()
    {
        int total = 0;
        for (int seed = 1; seed <= 4; seed++)
        {
            var log = new List<string>();
            string? failure = RunFailover(seed, GroupFaults.None, log.Add, out int acked);
            Assert.True(failure is null, $"seed {seed}: {failure}\n{string.Join("\n", log.TakeLast(30))}");
            total += acked;
        }
        output.WriteLine($"4 seeds, {total} commits acknowledged, every one read at the new coordinator");
    }

    [Fact]
    public void A_commit_acknowledged_before_it_is_replicated_is_caught()
    {
        string? first = null;
        for (int seed = 1; seed <= 4 && first is null; seed++) first = RunFailover(seed, GroupFaults.AnswerCommitBeforeDurable, null, out _);
        output.WriteLine($"planted answer-before-replicated: {first}");
        Assert.NotNull(first);
        Assert.Contains("last acknowledged commit was 999", first);
    }

    [Fact]
    public void A_coordinator_loading_above_its_high_watermark_is_caught()
    {
        string? first = null;
        for (int seed = 1; seed <= 4 && first is null; seed++) first = RunFailover(seed, GroupFaults.LoadAboveHighWatermark, null, out _);
        output.WriteLine($"planted load-above-high-watermark: {first}");
        Assert.NotNull(first);
        Assert.Contains("loaded at high watermark", first);
    }
}
